/*
 * csi_source.h — the WiFi CSI frame source and its UDP link (CSI build
 * only; csi_source.c). Frames go to the frame queue; the platform sends
 * telemetry over the same UDP socket.
 */
#ifndef CSI_SOURCE_H
#define CSI_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "esp_err.h"

esp_err_t csi_source_start(void);
int csi_source_udp_send(const void *data, size_t len); /* 0 sent, -1 not */
uint8_t csi_source_node_id(void);
void csi_source_get_counters(uint32_t *callbacks, uint32_t *rejected, uint32_t *raw_dropped);

#endif /* CSI_SOURCE_H */
