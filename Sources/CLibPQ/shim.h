#ifndef KEYADMIN_CLIBPQ_SHIM_H
#define KEYADMIN_CLIBPQ_SHIM_H
#include <libpq-fe.h>
#endif
