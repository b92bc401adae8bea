/* Compatibility name used by firmware/main: the protocol header. */
#ifndef RUV_APP_PROTOCOL_H
#define RUV_APP_PROTOCOL_H
#include "ruv_proto.h"
#endif
