/*
 * cofferd.c - the coffer server: configuration, subcommands, and `serve`.
 *
 * main() does what must happen before any thread starts: core dumps off, SIGINT/SIGTERM
 * blocked (svc_serve() takes them with sigwait), jansson's zeroing allocator installed.
 */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "auth.h"
#include "cf_config.h"
#include "cf_json.h"
#include "cf_log.h"
#include "db.h"
#include "svc.h"
#include "svc_cmd.h"
#include "svc_ctx.h"

#ifndef COFFER_VERSION
#define COFFER_VERSION "0.0.0"
#endif

static void usage(FILE *out)
{
    (void)fputs("Usage: cofferd [SETTINGS] [COMMAND] [ARGS]\n"
                "\n"
                "Commands:\n"
                "  serve                       run the server (the default)\n"
                "  migrate [--status]          apply pending migrations (as the schema owner)\n"
                "  token create --role admin|auditor --name NAME [--ttl DURATION]\n"
                "                              make an API token, printed once (default ttl 90d)\n"
                "  local-key init PATH         create a key file for the local KMS backend (0600)\n"
                "  principal set NAME --role admin|auditor | remove NAME | list\n"
                "                              people who sign in with kmsauth user tokens\n"
                "  audit verify [--from-id N] [--to-id N]\n"
                "                              walk the access log's hash chain in the database\n"
                "  --help, --version\n"
                "\n",
                out);
    cf_config_help(out);
    (void)fputs("\nExit status: 0 success, 1 runtime failure, 2 usage or configuration error.\n",
                out);
}

/* Core dumps would write decrypted secrets to disk. */
static void harden_process(void)
{
    struct rlimit no_core = { 0, 0 };
    int r = setrlimit(RLIMIT_CORE, &no_core);
    (void)r; /* best effort: a failure leaves the inherited limit */
#if !defined(__SANITIZE_ADDRESS__)
    /* not under ASan: LeakSanitizer needs to ptrace the process */
    r = prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    (void)r;
#endif
}

/* glibc gives threads up to eight malloc arenas per core, and each keeps the memory it once
 * used; with 128 worker threads that is most of cofferd's resident size. Two arenas hold it
 * to a small, steady size (issue 13: 1,000 warm services in under 32 MiB) at no measured cost
 * to throughput; MALLOC_ARENA_MAX in the environment still decides when set. */
static void bound_malloc_arenas(void)
{
    // NOLINTNEXTLINE(concurrency-mt-unsafe): runs before any thread starts; no setenv
    if (getenv("MALLOC_ARENA_MAX") == NULL) {
        // NOLINTNEXTLINE(concurrency-mt-unsafe): before any thread starts, as glibc asks
        int r = mallopt(M_ARENA_MAX, 2);
        (void)r; /* best effort */
    }
}

static void block_signals(void)
{
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP); /* serve: re-read the TLS certificate */
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    (void)signal(SIGPIPE, SIG_IGN); /* cannot fail: a valid signal and handler */
}

/* Secrets are never swapped out: all of the process's memory, now and later, is locked in
 * RAM (MCL_ONFAULT: pages are locked as they are first touched, so address space reserved and
 * never used, as the sanitizers reserve it, costs nothing). Without CAP_IPC_LOCK the
 * RLIMIT_MEMLOCK limit applies; when locking fails cofferd says why and serves on. The system
 * call is made directly: the sanitizers' mlockall() does nothing, so that the test build,
 * which the tests read /proc/PID/status of, would not be locked. */
static void lock_memory(const struct cf_config *cfg)
{
    if (strcmp(cfg->mlock, "on") != 0)
        return;
    if (syscall(SYS_mlockall, MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) != 0) {
        int e = errno;
        cf_log(CF_LOG_WARN,
               "memory not locked: secrets may be swapped out (give cofferd CAP_IPC_LOCK or "
               "raise RLIMIT_MEMLOCK, or set COFFER_MLOCK=off to silence this)",
               "{s:i}", "errno", e);
        return;
    }
    cf_log(CF_LOG_INFO, "memory locked in RAM (mlockall)", NULL);
}

#ifdef COFFER_TEST_HOOKS
/* Only in the sanitizer builds the tests run (never in Release): COFFER_TEST_EXIT_FAULT makes
 * `serve` fail on its way out as a bug would, so that tests/integration/test_exit_status.c
 * shows that the suite sees it. leak: memory never freed (LeakSanitizer exits 23); race: two
 * threads write one int (ThreadSanitizer exits 66); abort: abort() after the drain; exit:
 * status 3. */
static void *volatile exit_fault_sink;
static int exit_fault_shared;

static void *exit_fault_racer(void *arg)
{
    (void)arg;
    exit_fault_shared++;
    return NULL;
}

static int exit_fault(int rc)
{
    // NOLINTNEXTLINE(concurrency-mt-unsafe): every other thread has been joined
    const char *mode = getenv("COFFER_TEST_EXIT_FAULT");
    pthread_t t;

    if (mode == NULL)
        return rc;
    if (strcmp(mode, "leak") == 0) {
        for (int i = 0; i < 8; i++)
            exit_fault_sink = malloc(64); /* each overwrites the last: seven are unreachable */
        exit_fault_sink = NULL;
    } else if (strcmp(mode, "race") == 0 && pthread_create(&t, NULL, exit_fault_racer, NULL) == 0) {
        exit_fault_shared++;
        pthread_join(t, NULL);
    } else if (strcmp(mode, "abort") == 0) {
        abort();
    } else if (strcmp(mode, "exit") == 0) {
        return 3;
    }
    return rc;
}
#endif

static int cmd_serve(const struct cf_config *cfg)
{
    struct svc_ctx ctx;
    char err[512];
    int rc;

    if (cf_config_check_serve(cfg, err, sizeof(err)) != 0) {
        (void)fprintf(stderr, "cofferd: %s\n", err);
        return 2;
    }
    lock_memory(cfg);
    if ((rc = svc_ctx_open(cfg, &ctx)) == 0)
        rc = svc_serve(&ctx);
    svc_ctx_close(&ctx);
#ifdef COFFER_TEST_HOOKS
    rc = exit_fault(rc);
#endif
    return rc;
}

static int run(const struct cf_config *cfg, int argc, char **argv)
{
    const char *cmd = argc > 0 ? argv[0] : "serve";

    if (strcmp(cmd, "serve") == 0) {
        if (argc > 1)
            return svc_cmd_usage("serve: unknown argument '%s'", argv[1]);
        return cmd_serve(cfg);
    }
    if (strcmp(cmd, "migrate") == 0)
        return svc_cmd_migrate(cfg, argc, argv);
    if (strcmp(cmd, "token") == 0)
        return svc_cmd_token(cfg, argc, argv);
    if (strcmp(cmd, "local-key") == 0)
        return svc_cmd_local_key(argc, argv);
    if (strcmp(cmd, "principal") == 0)
        return svc_cmd_principal(cfg, argc, argv);
    if (strcmp(cmd, "audit") == 0)
        return svc_cmd_audit_verify(cfg, argc, argv);
    return svc_cmd_usage("unknown command '%s'", cmd);
}

int main(int argc, char **argv)
{
    struct cf_config cfg;
    char err[512];
    int nrest = 0, rc;

    harden_process();
    bound_malloc_arenas();
    block_signals();
    cf_json_init();
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--version") == 0) {
            printf("cofferd %s\n", COFFER_VERSION);
            return 0;
        }
    }
    char **rest = calloc((size_t)argc, sizeof(*rest));
    if (rest == NULL)
        return 1;
    if (cf_config_load(&cfg, argc, argv, rest, &nrest, err, sizeof(err)) != 0) {
        (void)fprintf(stderr, "cofferd: %s\n", err);
        rc = 2;
    } else {
        rc = run(&cfg, nrest, rest);
    }
    cf_config_free(&cfg);
    free(rest);
    return rc;
}
