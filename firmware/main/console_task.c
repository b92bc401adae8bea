/*
 * console_task.c — the console reader: a task that reads stdin lines
 * (USB-Serial-JTAG or UART on the chip, the process's stdin on the linux
 * target) and hands each line to the console protocol (ruv_app) through
 * ruv_main_console_line. Replies are written by the protocol through the
 * platform's console output (platform_idf.c).
 *
 * On the chip, the console driver is installed and the VFS switched to it so
 * that reads block (no polling) and "\r\n" from a terminal is accepted.
 * On the linux target, end of input ends the process (scripted sessions).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sdkconfig.h"

#include "esp_log.h"
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"

#if !CONFIG_IDF_TARGET_LINUX
#if CONFIG_ESP_CONSOLE_USB_SERIAL_JTAG
#include "driver/usb_serial_jtag.h"
#include "driver/usb_serial_jtag_vfs.h"
#elif CONFIG_ESP_CONSOLE_UART
#include "driver/uart.h"
#include "driver/uart_vfs.h"
#endif
#endif

#include "ruv_proto.h"
#include "ruv_main.h"

static const char *TAG = "console";

#if CONFIG_IDF_TARGET_LINUX
#define CONSOLE_STACK_BYTES (64 * 1024)
#else
#define CONSOLE_STACK_BYTES (8 * 1024)
#endif
#define CONSOLE_PRIORITY 4

/* One protocol line at most (RUV_PROTO_LINE_MAX from the protocol header,
 * terminator excluded); longer lines are discarded and reported. */
static char s_line[RUV_PROTO_LINE_MAX + 1];
static TaskHandle_t s_task;

static esp_err_t console_io_init(void)
{
#if CONFIG_IDF_TARGET_LINUX
    setvbuf(stdout, NULL, _IOLBF, 0);
    return ESP_OK;
#elif CONFIG_ESP_CONSOLE_USB_SERIAL_JTAG
    usb_serial_jtag_driver_config_t cfg = USB_SERIAL_JTAG_DRIVER_CONFIG_DEFAULT();
    cfg.rx_buffer_size = 4096;
    cfg.tx_buffer_size = 4096;
    esp_err_t err = usb_serial_jtag_driver_install(&cfg);
    if (err != ESP_OK) {
        return err;
    }
    usb_serial_jtag_vfs_set_rx_line_endings(ESP_LINE_ENDINGS_LF);
    usb_serial_jtag_vfs_set_tx_line_endings(ESP_LINE_ENDINGS_LF);
    usb_serial_jtag_vfs_use_driver();
    return ESP_OK;
#elif CONFIG_ESP_CONSOLE_UART
    esp_err_t err = uart_driver_install(CONFIG_ESP_CONSOLE_UART_NUM, 4096, 0, 0, NULL, 0);
    if (err != ESP_OK) {
        return err;
    }
    uart_vfs_dev_port_set_rx_line_endings(CONFIG_ESP_CONSOLE_UART_NUM, ESP_LINE_ENDINGS_LF);
    uart_vfs_dev_port_set_tx_line_endings(CONFIG_ESP_CONSOLE_UART_NUM, ESP_LINE_ENDINGS_LF);
    uart_vfs_dev_use_driver(CONFIG_ESP_CONSOLE_UART_NUM);
    return ESP_OK;
#else
    ESP_LOGW(TAG, "no console input configured (ESP_CONSOLE_NONE?)");
    return ESP_OK;
#endif
}

static void console_task(void *arg)
{
    (void)arg;
    size_t len = 0;
    bool overflow = false;
    for (;;) {
        char c;
        const ssize_t n = read(STDIN_FILENO, &c, 1);
        if (n == 0) {
#if CONFIG_IDF_TARGET_LINUX
            ESP_LOGI(TAG, "end of input; exiting");
            fflush(stdout);
            exit(0);
#else
            vTaskDelay(pdMS_TO_TICKS(10));
            continue;
#endif
        }
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            vTaskDelay(pdMS_TO_TICKS(10)); /* EAGAIN on a non-blocking console */
            continue;
        }
        if (c == '\r') {
            continue; /* accept CRLF */
        }
        if (c != '\n') {
            if (len < RUV_PROTO_LINE_MAX) {
                s_line[len++] = c;
            } else {
                overflow = true;
            }
            continue;
        }
        if (overflow) {
            ruv_main_console_line(NULL, 0); /* reported as "line too long" */
        } else {
            s_line[len] = '\0';
            ruv_main_console_line(s_line, len);
        }
        len = 0;
        overflow = false;
    }
}

esp_err_t console_task_start(void)
{
    esp_err_t err = console_io_init();
    if (err != ESP_OK) {
        return err;
    }
    if (xTaskCreate(console_task, "console",
                    (configSTACK_DEPTH_TYPE)(CONSOLE_STACK_BYTES / sizeof(StackType_t)), NULL,
                    CONSOLE_PRIORITY, &s_task) != pdPASS) {
        return ESP_ERR_NO_MEM;
    }
    return ESP_OK;
}

size_t console_task_stack_free_bytes(void)
{
    return s_task != NULL ? (size_t)uxTaskGetStackHighWaterMark(s_task) * sizeof(StackType_t) : 0u;
}
