#include <cblas.h>
/* OpenBLAS thread control (declared in openblas_config.h, included by cblas.h). */
