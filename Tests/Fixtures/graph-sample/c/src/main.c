#include "local.h"
#include <app/util.h>
#if 0
#include "gone.h"
#endif
static const char *banner = "#include <not/an/include.h>";
int main(void) { struct local_state s = { util_add(1, 2) }; return s.count; }
