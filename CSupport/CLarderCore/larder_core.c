/* Placeholder: the implementation lands with the C core work. */
#include "larder_core.h"
