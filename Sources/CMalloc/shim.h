// glibc's allocator statistics (mallinfo2), for the memory planner's process baseline.
#include <malloc.h>
