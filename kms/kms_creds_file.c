/*
 * kms_creds_file.c - credentials from the shared credentials and config files, the profile's
 * other settings (the region), and the strict INI reader both files need.
 *
 * A file is read whole into a cf_secret (it holds secret keys), parsed in place and cleansed.
 * Only static keys are supported: a profile that asks for role assumption, SSO or a
 * credential process is refused rather than silently skipped, so coffer never runs as an
 * identity its operator did not choose.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cf_log.h"
#include "kms_creds.h"

#define PATH_CAP    4096
#define SECTION_CAP 160
#define PROFILE_MAX 128

/* Reading. */

static int read_all(int fd, struct cf_secret *text, size_t size)
{
    size_t got = 0;

    while (got < size) {
        ssize_t n = read(fd, text->data + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            cf_log(CF_LOG_ERROR, "cannot read an AWS shared file", "{s:i}", "errno", errno);
            return CF_EIO;
        }
        if (n == 0)
            break;        /* shrank while we read: parse what is there */
        got += (size_t)n; /* n > 0: checked above */
    }
    if (memchr(text->data, '\0', got) != NULL)
        return CF_ECONFIG;
    text->data[got] = '\0';
    return 0;
}

int kms_creds_read_file(const char *path, size_t max, struct cf_secret *text)
{
    struct stat st;
    int r, fd = open(path, O_RDONLY | O_CLOEXEC);

    *text = (struct cf_secret){ 0 };
    if (fd < 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return CF_ENOTFOUND;
        cf_log(CF_LOG_ERROR, "cannot open an AWS shared file", "{s:s, s:i}", "path", path, "errno",
               errno);
        return CF_EIO;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        r = CF_ECONFIG;
        goto out;
    }
    if (st.st_size < 0 || (uint64_t)st.st_size > max || max >= CF_SECRET_MAX) {
        r = CF_ECONFIG;
        goto out;
    }
    if ((r = cf_secret_alloc(text, (size_t)st.st_size + 1)) != 0) /* in range: checked above */
        goto out;
    r = read_all(fd, text, (size_t)st.st_size);
out:
    close(fd);
    if (r != 0)
        cf_secret_free(text);
    return r;
}

/* Parsing. */

struct ini_line {
    char *s; /* trimmed, NUL-terminated in place */
    bool indented;
};

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

static char *trim(char *s, char *end)
{
    while (s < end && is_space(*s))
        s++;
    while (end > s && is_space(end[-1]))
        end--;
    *end = '\0';
    return s;
}

static bool is_key_name(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s != '\0'; s++) {
        char c = *s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return false;
    }
    return true;
}

struct ini_state {
    const char *section;
    const char *const *keys;
    size_t n;
    struct cf_secret *values;
    bool in_target;
    bool seen_target;
    bool in_any_section;
    bool after_empty_key; /* indented lines below are sub-settings */
};

static int ini_section(struct ini_state *st, char *s)
{
    size_t len = strlen(s);

    if (len < 3 || s[len - 1] != ']')
        return CF_ECONFIG;
    char *name = trim(s + 1, s + len - 1);
    if (*name == '\0')
        return CF_ECONFIG;
    st->in_target = strcmp(name, st->section) == 0;
    if (st->in_target && st->seen_target)
        return CF_ECONFIG; /* a profile defined twice: which one was meant? */
    st->seen_target = st->seen_target || st->in_target;
    st->in_any_section = true;
    st->after_empty_key = false;
    return 0;
}

static int ini_setting(struct ini_state *st, char *s)
{
    char *eq = strchr(s, '=');

    if (eq == NULL || !st->in_any_section)
        return CF_ECONFIG;
    char *key = trim(s, eq);
    char *value = trim(eq + 1, eq + 1 + strlen(eq + 1));
    if (!is_key_name(key))
        return CF_ECONFIG;
    st->after_empty_key = *value == '\0';
    if (!st->in_target)
        return 0;
    for (size_t i = 0; i < st->n; i++) {
        if (strcasecmp(key, st->keys[i]) != 0)
            continue;
        if (st->values[i].data != NULL)
            return CF_ECONFIG; /* duplicate key */
        return cf_secret_dup(&st->values[i], value, strlen(value) + 1);
    }
    return 0;
}

static int ini_line(struct ini_state *st, struct ini_line line)
{
    if (*line.s == '\0' || *line.s == '#' || *line.s == ';')
        return 0;
    if (line.indented)
        return st->after_empty_key ? 0 : CF_ECONFIG; /* no continuation lines */
    if (*line.s == '[')
        return ini_section(st, line.s);
    return ini_setting(st, line.s);
}

static int ini_parse(char *text, struct ini_state *st, size_t *bad_line)
{
    size_t lineno = 0;
    char *p = text;

    while (*p != '\0') {
        char *nl = strchr(p, '\n');
        char *end = nl != NULL ? nl : p + strlen(p);
        struct ini_line line = { .indented = is_space(*p) };
        lineno++;
        line.s = trim(p, end);
        int r = ini_line(st, line);
        if (r != 0) {
            *bad_line = lineno;
            return r;
        }
        p = nl != NULL ? nl + 1 : end;
    }
    return st->seen_target ? 0 : CF_ENOTFOUND;
}

int kms_ini_read(const char *path, const char *section, const char *const *keys, size_t n,
                 struct cf_secret *values_out)
{
    struct cf_secret text = { 0 };
    struct ini_state st = { .section = section, .keys = keys, .n = n, .values = values_out };
    size_t bad_line = 0;
    int r;

    for (size_t i = 0; i < n; i++)
        values_out[i] = (struct cf_secret){ 0 };
    if ((r = kms_creds_read_file(path, CF_SECRET_MAX - 1, &text)) != 0)
        goto out;
    r = ini_parse((char *)text.data, &st, &bad_line);
out:
    if (r == CF_ECONFIG) { /* the line number, never the line: it may hold a key */
        cf_log(CF_LOG_ERROR, "malformed AWS shared file", "{s:s, s:i}", "path", path, "line",
               (int)(bad_line > 100000000 ? 0 : bad_line)); /* small: fits an int */
    }
    if (r != 0) {
        for (size_t i = 0; i < n; i++)
            cf_secret_free(&values_out[i]);
    }
    cf_secret_free(&text);
    return r;
}

/* Paths and profiles. */

/* The file named by env_name, else ~/<home_rel>; a leading "~/" is expanded. */
static int shared_path(const char *env_name, const char *home_rel, char *out, size_t cap)
{
    const char *v = kms_creds_getenv(env_name);
    const char *home = kms_creds_getenv("HOME");

    if (v != NULL && !cf_has_prefix(v, "~/"))
        return cf_fmt(out, cap, "%s", v);
    if (home == NULL)
        return CF_ENOTFOUND;
    if (v != NULL)
        return cf_fmt(out, cap, "%s%s", home, v + 1);
    return cf_fmt(out, cap, "%s/%s", home, home_rel);
}

static const char *profile_name(bool *explicit_out)
{
    const char *p = kms_creds_getenv("AWS_PROFILE");

    *explicit_out = p != NULL;
    return p != NULL ? p : "default";
}

/* The config file's section for a profile: [default] or [profile NAME]. */
static int config_section(const char *profile, char *out, size_t cap)
{
    if (strlen(profile) > PROFILE_MAX)
        return CF_ECONFIG;
    if (strcmp(profile, "default") == 0)
        return cf_fmt(out, cap, "default");
    return cf_fmt(out, cap, "profile %s", profile);
}

int kms_creds_config_value(const char *key, char *out, size_t cap)
{
    char path[PATH_CAP], section[SECTION_CAP];
    struct cf_secret v = { 0 };
    bool explicit_profile;
    int r;

    if ((r = shared_path("AWS_CONFIG_FILE", ".aws/config", path, sizeof(path))) != 0)
        return r == CF_ETOOBIG ? CF_ECONFIG : r;
    if ((r = config_section(profile_name(&explicit_profile), section, sizeof(section))) != 0)
        return r;
    if ((r = kms_ini_read(path, section, &key, 1, &v)) != 0)
        goto out;
    if (v.data == NULL || v.data[0] == '\0') {
        r = CF_ENOTFOUND;
        goto out;
    }
    r = cf_fmt(out, cap, "%s", (const char *)v.data);
out:
    cf_secret_free(&v);
    return r;
}

/* Credentials. */

enum { K_AKID, K_SECRET, K_TOKEN, K_ROLE_ARN, K_PROCESS, K_SSO_SESSION, K_SSO_URL, K_COUNT };

static const char *const cred_keys[K_COUNT] = {
    "aws_access_key_id",  "aws_secret_access_key", "aws_session_token", "role_arn",
    "credential_process", "sso_session",           "sso_start_url",
};

static bool has(const struct cf_secret *v)
{
    return v->data != NULL && v->data[0] != '\0';
}

static int creds_from_values(const struct cf_secret *v, const char *path, struct kms_creds *out)
{
    if (!has(&v[K_AKID]) && !has(&v[K_SECRET])) {
        if (has(&v[K_ROLE_ARN]) || has(&v[K_PROCESS]) || has(&v[K_SSO_SESSION]) ||
            has(&v[K_SSO_URL])) {
            cf_log(CF_LOG_ERROR,
                   "the AWS profile needs a credentials source coffer lacks "
                   "(role_arn, credential_process, SSO): give it static keys",
                   "{s:s}", "path", path);
            return CF_ECONFIG;
        }
        return CF_ENOTFOUND;
    }
    if (kms_creds_set(out, (const char *)v[K_AKID].data, (const char *)v[K_SECRET].data,
                      (const char *)v[K_TOKEN].data) != 0) {
        cf_log(CF_LOG_ERROR, "the AWS profile's keys are missing or malformed", "{s:s}", "path",
               path);
        return CF_ECONFIG;
    }
    out->source = "file";
    return 0;
}

/* Credentials of one section of one file; *seen_out is set if the section exists. */
static int creds_from_section(const char *path, const char *section, bool *seen_out,
                              struct kms_creds *out)
{
    struct cf_secret v[K_COUNT];
    int r;

    if ((r = kms_ini_read(path, section, cred_keys, K_COUNT, v)) != 0)
        return r; /* CF_ENOTFOUND: no file or no such section */
    *seen_out = true;
    r = creds_from_values(v, path, out);
    for (size_t i = 0; i < K_COUNT; i++)
        cf_secret_free(&v[i]);
    return r;
}

int kms_creds_from_file(struct kms_creds *out)
{
    char path[PATH_CAP], section[SECTION_CAP];
    bool explicit_profile, seen = false;
    const char *profile = profile_name(&explicit_profile);
    int r;

    *out = (struct kms_creds){ 0 };
    r = shared_path("AWS_SHARED_CREDENTIALS_FILE", ".aws/credentials", path, sizeof(path));
    if (r == 0)
        r = creds_from_section(path, profile, &seen, out);
    if (r != CF_ENOTFOUND)
        return r == CF_ETOOBIG ? CF_ECONFIG : r;
    if ((r = config_section(profile, section, sizeof(section))) != 0)
        return r;
    r = shared_path("AWS_CONFIG_FILE", ".aws/config", path, sizeof(path));
    if (r == 0)
        r = creds_from_section(path, section, &seen, out);
    if (r == CF_ENOTFOUND && explicit_profile && !seen) {
        cf_log(CF_LOG_ERROR, "AWS_PROFILE names a profile that no shared file defines", NULL);
        return CF_ECONFIG;
    }
    return r == CF_ETOOBIG ? CF_ECONFIG : r;
}
