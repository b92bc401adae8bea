/*
 * console_task.c — the console reader: a task that reads stdin
 * (USB-Serial-JTAG or UART on the chip, the process's stdin on the linux
 * target) and hands whatever each read() returns to the app's line reader
 * (ruv_app_console_input: line assembly, length limit, CR/LF, recovery after
 * an over-long line — the code the virtual device runs and the tests
 * cover). Replies are written by the app through the platform's console
 * output (platform_idf.c).
 *
 * On the chip the console driver (USB-Serial-JTAG or UART) is installed and
 * read directly: each call blocks for the first byte and then returns all
 * that is buffered (up to 4 KB), so a 4 KB upload chunk line costs a few
 * calls, not 4,000 (the reader used to take one byte per read()). stdout
 * goes through the VFS, switched to the same driver.
 * On the linux target, end of input ends the process (scripted sessions).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sdkconfig.h"

#include "esp_err.h"
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

#include "console_task.h"
#include "ruv_app.h"

static const char *TAG = "console";

#if CONFIG_IDF_TARGET_LINUX
#define CONSOLE_STACK_BYTES (64 * 1024)
#else
#define CONSOLE_STACK_BYTES (8 * 1024)
#endif
#define CONSOLE_PRIORITY 4
/* Pinned: `bench` reads the CPU cycle counter (per core) before and after a
 * call, so start and end must come from the same core. The temporal task
 * has core 1. */
#define CONSOLE_CORE 0

/* One read's worth; the line itself is assembled by ruv_app. Static: off
 * the task's stack. */
static char s_buf[RUV_PROTO_LINE_MAX];

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
        ESP_LOGE(TAG, "usb_serial_jtag_driver_install: %s", esp_err_to_name(err));
        return err;
    }
    usb_serial_jtag_vfs_set_rx_line_endings(ESP_LINE_ENDINGS_LF);
    usb_serial_jtag_vfs_set_tx_line_endings(ESP_LINE_ENDINGS_LF);
    usb_serial_jtag_vfs_use_driver();
    return ESP_OK;
#elif CONFIG_ESP_CONSOLE_UART
    esp_err_t err = uart_driver_install(CONFIG_ESP_CONSOLE_UART_NUM, 4096, 0, 0, NULL, 0);
    if (err != ESP_OK) {
        ESP_LOGE(TAG, "uart_driver_install: %s", esp_err_to_name(err));
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

/* Whatever the console has, up to cap bytes, blocking until at least one
 * byte arrived. The drivers' own calls hand over everything buffered in
 * one go; the linux target reads the process's stdin. CR/LF handling is
 * the app's line reader's, so no VFS line-ending conversion is involved.
 * Returns the byte count, 0 at end of input, -1 on an error (errno). */
static int console_read(char *buf, size_t cap)
{
#if CONFIG_IDF_TARGET_LINUX
    return (int)read(STDIN_FILENO, buf, cap);
#elif CONFIG_ESP_CONSOLE_USB_SERIAL_JTAG
    /* Waits for the first byte, then returns everything available (<= cap). */
    int n;
    do {
        n = usb_serial_jtag_read_bytes(buf, (uint32_t)cap, portMAX_DELAY);
    } while (n == 0);
    return n;
#elif CONFIG_ESP_CONSOLE_UART
    /* uart_read_bytes waits for all `length` bytes: block for one, then take
     * what is buffered. */
    const uart_port_t port = (uart_port_t)CONFIG_ESP_CONSOLE_UART_NUM;
    int n = uart_read_bytes(port, buf, 1, portMAX_DELAY);
    if (n == 1 && cap > 1) {
        size_t avail = 0;
        if (uart_get_buffered_data_len(port, &avail) == ESP_OK && avail > 0) {
            const int more = uart_read_bytes(port, buf + 1, (uint32_t)(avail < cap - 1 ? avail : cap - 1), 0);
            n += more > 0 ? more : 0;
        }
    }
    return n;
#else
    return (int)read(STDIN_FILENO, buf, cap);
#endif
}

static void console_task(void *arg)
{
    (void)arg;
    for (;;) {
        const int n = console_read(s_buf, sizeof s_buf);
        if (n > 0) {
            ruv_app_console_input(s_buf, (size_t)n);
            continue;
        }
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
        if (errno != EINTR) {
            vTaskDelay(pdMS_TO_TICKS(10)); /* EAGAIN on a non-blocking console */
        }
    }
}

esp_err_t console_task_start(TaskHandle_t *task)
{
    esp_err_t err = console_io_init();
    if (err != ESP_OK) {
        return err;
    }
    BaseType_t ok;
#if CONFIG_IDF_TARGET_LINUX || CONFIG_FREERTOS_UNICORE
    ok = xTaskCreate(console_task, "console",
                     (configSTACK_DEPTH_TYPE)(CONSOLE_STACK_BYTES / sizeof(StackType_t)), NULL,
                     CONSOLE_PRIORITY, task);
#else
    ok = xTaskCreatePinnedToCore(console_task, "console", CONSOLE_STACK_BYTES, NULL, CONSOLE_PRIORITY,
                                 task, CONSOLE_CORE);
#endif
    return ok == pdPASS ? ESP_OK : ESP_ERR_NO_MEM;
}
