// Everything in optim/.
#pragma once
#include "optim/adamw.h"
#include "optim/lars.h"
#include "optim/optimizer.h"
#include "optim/schedule.h"
#include "optim/sgd.h"
