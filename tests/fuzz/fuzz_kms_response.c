/*
 * fuzz_kms_response.c - the aws KMS backend's handling of KMS answers (kms_aws.c: the status
 * and error-type mapping, the JSON parse, and each operation's reading of Plaintext,
 * CiphertextBlob, KeyId and KeyMetadata.Arn).
 *
 * The functions that read answers are static, so the answer comes over HTTP: a responder
 * thread on 127.0.0.1 (a free port) reads each request and writes back the current input's
 * status and body, then closes. A real aws client (kms_client_new) points at it with dummy
 * credentials, one attempt per call and short timeouts. The input: byte 0 picks the operation
 * (bits 0-1: GenerateDataKey, Decrypt, Encrypt, DescribeKey) and the ARN buffer (bit 2: 40
 * bytes, too small for a real ARN, else KMS_KEY_ID_MAX + 1 as coffer's callers use); bytes 1-2
 * the status (top bit clear: 200; else 100 + the other 15 bits mod 500); the rest is the body.
 *
 * Properties (abort() on violation):
 * - each call makes exactly one request, for the operation asked;
 * - the call returns 0 or one of kms.h's errors for a refusal or a bad answer: CF_ENOTFOUND,
 *   CF_EINTEGRITY, CF_EDENIED, CF_EKMS, CF_ETHROTTLED, CF_EUNAVAIL, CF_EBADRESPONSE
 *   (CF_EINVAL and CF_ECONFIG cannot arise: the arguments and credentials are valid); an ARN
 *   that does not fit the caller's buffer is a bad answer too;
 * - a 200 gives 0 or CF_EBADRESPONSE; any other status never gives 0; a 5xx gives
 *   CF_EUNAVAIL and a 429 CF_ETHROTTLED (one attempt: nothing is retried);
 * - on error no output is set: the plaintext and the blob are empty;
 * - on success, GenerateDataKey's plaintext is exactly 32 bytes, Decrypt's is not empty, a
 *   returned blob is not empty, and the ARN is NUL-terminated within its buffer, which is
 *   not written past.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <jansson.h>

#include "cf_config.h"
#include "cf_json.h"
#include "cf_log.h"
#include "cf_str.h"
#include "kms.h"

#define HEAD_MAX      16384 /* request headers larger than this are not ours */
#define REQ_BODY_MAX  ((size_t)1 << 20)
#define IO_TIMEOUT_MS 2000
#define ARN_SMALL     40
#define ARN_CAP       (KMS_KEY_ID_MAX + 1)
#define CANARY        0xa5
#define CANARY_LEN    64
#define SENTINEL_LEN  ((size_t)0x5eed)
#define TARGET_MAX    64
#define MASTER_KEY    "alias/coffer-master"
#define CREDENTIAL_ID "0123456789abcdef0123456789abcdef"
#define STATUS_OK     200

static const char *const op_names[KMS_OP_COUNT] = { "GenerateDataKey", "Decrypt", "Encrypt",
                                                    "DescribeKey" };

/* What the responder answers, and what it saw. Written by the fuzzing thread before a call
 * and read by the responder while that call waits for its answer. */
static struct {
    pthread_mutex_t lock; /* guards every field below */
    const uint8_t *body;  /* the current input's body; NULL between calls */
    size_t body_len;
    int status;
    unsigned requests;       /* requests answered during the current call */
    char target[TARGET_MAX]; /* the X-Amz-Target operation of the last request */
} srv = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* Set up once in LLVMFuzzerInitialize; the responder thread runs for the whole process. */
static int listen_fd = -1;
static pthread_t responder;
static struct kms_client *kms;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what)
{
    (void)fprintf(stderr, "fuzz_kms_response: %s\n", what);
    abort();
}

/* --- the responder --- */

/* Waits until fd is readable; false on timeout or error. */
static bool wait_readable(int fd)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    int n;

    while ((n = poll(&p, 1, IO_TIMEOUT_MS)) < 0 && errno == EINTR)
        ;
    return n > 0;
}

/* Reads up to cap bytes; 0 at the end of the stream or on error or timeout. */
static size_t read_some(int fd, char *buf, size_t cap)
{
    if (!wait_readable(fd))
        return 0;
    ssize_t n = recv(fd, buf, cap, 0);
    return n > 0 ? (size_t)n : 0; /* n > 0: fits */
}

/* The value of a header (case-insensitive name) in head, or NULL. head is NUL-terminated. */
static const char *header_value(const char *head, const char *name)
{
    size_t nlen = strlen(name);

    for (const char *line = strstr(head, "\r\n"); line != NULL; line = strstr(line + 2, "\r\n")) {
        const char *h = line + 2;
        if (strncasecmp(h, name, nlen) == 0 && h[nlen] == ':') {
            h += nlen + 1;
            return h + strspn(h, " \t");
        }
    }
    return NULL;
}

/* The request's Content-Length (0 if absent or malformed: curl always sends one). */
static size_t content_length(const char *head)
{
    const char *v = header_value(head, "Content-Length");
    size_t n = 0;

    for (; v != NULL && *v >= '0' && *v <= '9' && n <= REQ_BODY_MAX; v++)
        n = n * 10 + (size_t)(*v - '0'); /* a digit: 0..9 */
    return n;
}

/* Notes the operation named by "X-Amz-Target: TrentService.<op>". Under srv.lock. */
static void note_target(const char *head)
{
    const char *v = header_value(head, "X-Amz-Target");
    size_t n = v != NULL ? strcspn(v, "\r") : 0;
    const char *prefix = "TrentService.";

    srv.target[0] = '\0';
    if (n > strlen(prefix) && strncmp(v, prefix, strlen(prefix)) == 0) {
        n -= strlen(prefix);
        if (n < sizeof(srv.target)) {
            memcpy(srv.target, v + strlen(prefix), n);
            srv.target[n] = '\0';
        }
    }
}

/* Reads a whole request: headers into head (NUL-terminated), then the body, discarded. */
static bool read_request(int fd, char *head, size_t cap)
{
    size_t used = 0, n;
    char *end = NULL;

    while (end == NULL) {
        if (used + 1 >= cap || (n = read_some(fd, head + used, cap - 1 - used)) == 0)
            return false;
        used += n;
        head[used] = '\0';
        end = strstr(head, "\r\n\r\n");
    }
    size_t have = used - (size_t)(end + 4 - head); /* body bytes read with the headers */
    size_t want = content_length(head);
    char sink[4096];
    while (have < want && (n = read_some(fd, sink, sizeof(sink))) > 0)
        have += n;
    return have >= want;
}

static bool send_all(int fd, const void *p, size_t len)
{
    const char *b = p;

    while (len > 0) {
        ssize_t n = send(fd, b, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        b += n;
        len -= (size_t)n; /* n > 0 */
    }
    return true;
}

/* Answers one request with the current input. */
static void serve_one(int fd)
{
    static char head[HEAD_MAX]; /* the responder's own: only this thread uses it */
    char line[256];

    if (!read_request(fd, head, sizeof(head)))
        return;
    pthread_mutex_lock(&srv.lock);
    srv.requests++;
    note_target(head);
    /* the lock is held while sending: the call that owns srv.body cannot return meanwhile */
    if (srv.body != NULL &&
        cf_fmt(line, sizeof(line),
               "HTTP/1.1 %d X\r\nContent-Type: application/x-amz-json-1.1\r\n"
               "Content-Length: %zu\r\nConnection: close\r\n\r\n",
               srv.status, srv.body_len) == 0 &&
        send_all(fd, line, strlen(line)))
        (void)send_all(fd, srv.body, srv.body_len); /* a client that gave up: nothing to do */
    pthread_mutex_unlock(&srv.lock);
    /* end our side, then let the client close first so that no unread byte turns into a RST */
    if (shutdown(fd, SHUT_WR) == 0) {
        char drain[512];
        while (read_some(fd, drain, sizeof(drain)) > 0)
            ;
    }
}

static void *responder_main(void *arg)
{
    struct timeval tv = { .tv_sec = IO_TIMEOUT_MS / 1000 };

    (void)arg;
    for (;;) {
        int fd = accept(listen_fd, NULL, NULL);
        if (fd < 0)
            continue; /* EINTR, ECONNABORTED: the next one */
        if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == 0)
            serve_one(fd);
        close(fd);
    }
    return NULL;
}

/* Listens on a free loopback port; returns the port. */
static int start_responder(void)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = 0 };
    socklen_t alen = sizeof(a);

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        listen(listen_fd, 16) != 0 || getsockname(listen_fd, (struct sockaddr *)&a, &alen) != 0)
        die("cannot listen on 127.0.0.1");
    if (pthread_create(&responder, NULL, responder_main, NULL) != 0)
        die("cannot start the responder");
    return ntohs(a.sin_port);
}

/* --- the client --- */

static void env_set(const char *name, const char *value)
{
    if (setenv(name, value, 1) != 0)
        die("setenv failed");
}

/* Only what keeps the client on 127.0.0.1, with dummy credentials and no shared files. */
static void env_for(int port)
{
    static const char *const unset[] = {
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_DEFAULT_REGION",
        "AWS_ENDPOINT_URL",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
        "AWS_EC2_METADATA_SERVICE_ENDPOINT",
        "AWS_CA_BUNDLE",
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
    };
    char url[64];

    for (size_t i = 0; i < sizeof(unset) / sizeof(unset[0]); i++)
        unsetenv(unset[i]);
    if (cf_fmt(url, sizeof(url), "http://127.0.0.1:%d", port) != 0)
        die("endpoint URL too long");
    env_set("AWS_ENDPOINT_URL_KMS", url);
    env_set("AWS_REGION", "us-east-1");
    env_set("AWS_ACCESS_KEY_ID", "AKIAFUZZFUZZFUZZFUZZ");
    env_set("AWS_SECRET_ACCESS_KEY", "fuzzfuzzfuzzfuzzfuzzfuzzfuzzfuzzfuzzfuzz");
    env_set("AWS_EC2_METADATA_DISABLED", "true"); /* never 169.254.169.254 */
    env_set("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/coffer-fuzz/credentials");
    env_set("AWS_CONFIG_FILE", "/nonexistent/coffer-fuzz/config");
    env_set("NO_PROXY", "127.0.0.1");
    env_set("no_proxy", "127.0.0.1");
}

static void make_client(void)
{
    static char backend[] = "aws";
    struct cf_config cfg = { 0 };
    char err[256];

    cfg.kms_backend = backend;
    cfg.kms_max_attempts = 1;
    cfg.kms_connect_timeout_ms = 1000;
    cfg.kms_timeout_ms = 3000;
    if (kms_client_new(&cfg, &kms, err, sizeof(err)) != 0)
        die(err);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    cf_json_init();                 /* before any json_ call and any thread */
    cf_log_set_level(CF_LOG_ERROR); /* every refused call logs a warning */
    env_for(start_responder());
    make_client();
    return 0;
}

/* --- one call --- */

struct outcome {
    struct cf_secret plain;
    struct kms_blob blob;
    char arn[ARN_CAP + CANARY_LEN]; /* the cap the call gets, then a canary */
    size_t arn_cap;
};

static int call(enum kms_op op, struct outcome *o)
{
    static const uint8_t blob[] = "CiphertextBlob bytes of a data key, as a row stores them";
    static const uint8_t plain[] = "a kmsauth payload";
    struct kms_context ctx = { 0 };

    if (kms_context_add(&ctx, "id", CREDENTIAL_ID) != 0)
        die("kms_context_add failed");
    switch (op) {
    case KMS_OP_GENERATE_DATA_KEY:
        return kms_generate_data_key(kms, MASTER_KEY, &ctx, &o->plain, &o->blob, o->arn,
                                     o->arn_cap);
    case KMS_OP_DECRYPT:
        return kms_decrypt(kms, blob, sizeof(blob) - 1, &ctx, &o->plain, o->arn, o->arn_cap);
    case KMS_OP_ENCRYPT:
        return kms_encrypt(kms, MASTER_KEY, plain, sizeof(plain) - 1, &ctx, &o->blob, o->arn,
                           o->arn_cap);
    case KMS_OP_DESCRIBE_KEY:
        return kms_describe_key(kms, MASTER_KEY, o->arn, o->arn_cap);
    }
    die("no such operation");
    return CF_EINTERNAL;
}

static bool is_kms_error(int r)
{
    switch (r) {
    case CF_ENOTFOUND:
    case CF_EINTEGRITY:
    case CF_EDENIED:
    case CF_EKMS:
    case CF_ETHROTTLED:
    case CF_EUNAVAIL:
    case CF_EBADRESPONSE:
        return true;
    default:
        return false;
    }
}

/* The length of the ARN the answer holds for op (up to a NUL), or 0 if it holds none. */
static size_t answer_arn_len(enum kms_op op, const uint8_t *body, size_t len)
{
    json_t *root = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES, NULL);
    const json_t *holder = op == KMS_OP_DESCRIBE_KEY ? json_object_get(root, "KeyMetadata") : root;
    const char *arn = cf_json_str(holder, op == KMS_OP_DESCRIBE_KEY ? "Arn" : "KeyId");
    size_t n = arn != NULL ? strlen(arn) : 0;

    json_decref(root);
    return n;
}

static void check_result(enum kms_op op, int status, int r, const struct outcome *o,
                         const uint8_t *body, size_t len)
{
    if (r != 0 && !is_kms_error(r))
        die("the call returned a code kms.h does not list");
    if (status == STATUS_OK && r != 0 && r != CF_EBADRESPONSE)
        die("a 200 failed with something but CF_EBADRESPONSE");
    if (r == 0 && answer_arn_len(op, body, len) >= o->arn_cap)
        die("an ARN longer than the caller's buffer was accepted");
    if (status != STATUS_OK && r == 0)
        die("a non-200 answer succeeded");
    if (status >= 500 && r != CF_EUNAVAIL)
        die("a 5xx did not give CF_EUNAVAIL");
    if (status == 429 && r != CF_ETHROTTLED)
        die("a 429 did not give CF_ETHROTTLED");
}

static void check_outputs(enum kms_op op, int r, const struct outcome *o)
{
    for (size_t i = o->arn_cap; i < sizeof(o->arn); i++) {
        if ((uint8_t)o->arn[i] != CANARY)
            die("the ARN was written past its buffer");
    }
    if (r != 0) {
        if (o->plain.data != NULL || o->plain.len != 0 || o->blob.data != NULL || o->blob.len != 0)
            die("a failed call left output behind");
        return;
    }
    if (memchr(o->arn, '\0', o->arn_cap) == NULL)
        die("the ARN is not NUL-terminated within its buffer");
    if (op == KMS_OP_GENERATE_DATA_KEY &&
        (o->plain.len != KMS_DATA_KEY_LEN || o->plain.data == NULL))
        die("GenerateDataKey gave a plaintext that is not 32 bytes");
    if (op == KMS_OP_DECRYPT && (o->plain.len == 0 || o->plain.data == NULL))
        die("Decrypt succeeded with an empty plaintext");
    if ((op == KMS_OP_GENERATE_DATA_KEY || op == KMS_OP_ENCRYPT) &&
        (o->blob.len == 0 || o->blob.data == NULL))
        die("a blob-returning call succeeded with an empty blob");
}

/* Bytes 1-2: the top bit clear means 200 (half the inputs), else 100..599. */
static int status_of(const uint8_t *b)
{
    unsigned v = (unsigned)b[0] << 8 | b[1];

    if ((v & 0x8000u) == 0)
        return STATUS_OK;
    return (int)(100 + (v & 0x7fffu) % 500); /* 100..599 */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct outcome o = { 0 };

    if (size < 3)
        return 0;
    enum kms_op op = (enum kms_op)(data[0] & 3); /* 0..3: every kms_op */
    /* what the call writes starts non-empty: it must be reset, not just left alone */
    if (op == KMS_OP_GENERATE_DATA_KEY || op == KMS_OP_DECRYPT)
        o.plain.len = SENTINEL_LEN;
    if (op == KMS_OP_GENERATE_DATA_KEY || op == KMS_OP_ENCRYPT)
        o.blob.len = SENTINEL_LEN;
    o.arn_cap = (data[0] & 4) != 0 ? ARN_SMALL : ARN_CAP;
    memset(o.arn, CANARY, sizeof(o.arn));
    int status = status_of(data + 1);
    pthread_mutex_lock(&srv.lock);
    srv.body = data + 3;
    srv.body_len = size - 3;
    srv.status = status;
    srv.requests = 0;
    srv.target[0] = '\0';
    pthread_mutex_unlock(&srv.lock);

    int r = call(op, &o);

    pthread_mutex_lock(&srv.lock); /* waits for the responder to finish sending */
    srv.body = NULL;
    unsigned requests = srv.requests;
    bool right_op = strcmp(srv.target, op_names[op]) == 0;
    pthread_mutex_unlock(&srv.lock);
    if (requests != 1 || !right_op)
        die("the call did not make exactly one request for its operation");
    check_result(op, status, r, &o, data + 3, size - 3);
    check_outputs(op, r, &o);
    cf_secret_free(&o.plain);
    kms_blob_free(&o.blob);
    return 0;
}
