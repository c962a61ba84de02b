#ifndef TOLLGATE_CHIREDIS_SHIM_H
#define TOLLGATE_CHIREDIS_SHIM_H
// hiredis is used only as the RESP codec: its reader parses replies and
// redisFormatCommandArgv encodes commands. All I/O is SwiftNIO's.
#include <hiredis/hiredis.h>
#endif
