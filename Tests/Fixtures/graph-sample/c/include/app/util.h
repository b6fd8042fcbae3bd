#ifndef APP_UTIL_H
#define APP_UTIL_H
/* #include <app/never.h> */
#define UTIL_MAX(a, b) ((a) > (b) ? (a) : (b))
typedef unsigned int util_size;
int util_add(int a, int b);
#endif
