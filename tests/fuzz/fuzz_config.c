/*
 * fuzz_config.c - cofferd's settings from flags (cf_config_load and the serve checks).
 *
 * The input is a command line: arguments separated by newlines (a NUL ends the input). Every
 * setting has a flag, so flags reach every parser the environment does. The target puts two
 * database URLs holding passwords in front of the input's arguments; whatever the input does,
 * no message may quote them (cf_config never echoes a database URL), and a listen address
 * that passes must name a port.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cf_config.h"

#define ARGS_MAX 64
#define MARK_APP "pw-app-6b1f"
#define MARK_OWN "pw-owner-9c2e"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char argv0[] = "cofferd";
    static char app_url[] = "--database-url=postgresql://app:" MARK_APP "@127.0.0.1/coffer";
    static char own_url[] = "--migrate-database-url=postgresql://own:" MARK_OWN "@127.0.0.1/c";
    char *text = malloc(size + 1), *argv[ARGS_MAX + 4], *rest[ARGS_MAX + 4], err[512];
    struct cf_config cfg;
    int argc = 0, nrest = 0;

    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    /* the input may spell a marker itself; then a message may quote the input */
    bool quoted_input = strstr(text, "pw-") != NULL;
    argv[argc++] = argv0;
    argv[argc++] = app_url;
    argv[argc++] = own_url;
    for (char *p = text; argc < ARGS_MAX + 3;) {
        argv[argc++] = p;
        char *end = p + strcspn(p, "\n");
        if (*end == '\0')
            break;
        *end = '\0';
        p = end + 1;
    }
    argv[argc] = NULL;

    int r = cf_config_load(&cfg, argc, argv, rest, &nrest, err, sizeof(err));
    if (r == 0) {
        char host[256];
        int port;
        r = cf_config_check_serve(&cfg, err, sizeof(err));
        if (cf_config_listen_parts(cfg.listen, host, sizeof(host), &port) == 0 &&
            (port < 0 || port > 65535))
            abort(); /* a listen address that passed must name a real port */
        (void)cf_config_master_key(&cfg);
    }
    if (r != 0 && !quoted_input && (strstr(err, MARK_APP) != NULL || strstr(err, MARK_OWN) != NULL))
        abort(); /* a message quoted a database URL */
    cf_config_free(&cfg);
    free(text);
    return 0;
}
