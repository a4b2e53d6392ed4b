#include "tensor/storage.h"

#include "tensor/backend.h"

namespace moco {

Storage::Storage(size_t nbytes, Device device) : nbytes_(nbytes), device_(device) {
  data_ = backend_for(device).allocate(nbytes);
}

Storage::~Storage() { backend_for(device_).deallocate(data_, nbytes_); }

}  // namespace moco
