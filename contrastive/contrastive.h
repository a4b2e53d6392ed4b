// Everything in contrastive/: include this to build and train MoCo models.
#pragma once
#include "contrastive/infonce.h"
#include "contrastive/knn.h"
#include "contrastive/moco.h"
#include "contrastive/moco_v2.h"
#include "contrastive/moco_v3.h"
#include "contrastive/momentum.h"
#include "contrastive/queue.h"
#include "contrastive/shuffle_bn.h"
