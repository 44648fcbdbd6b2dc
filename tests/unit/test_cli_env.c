/* test_cli_env.c - cli/cli_env: variable names, bundle checks, envp, and quoting that sh, bash
 * and dash read back byte for byte. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "cf_json.h"
#include "cf_str.h"
#include "cli_env.h"
#include "trun.h"

static const char canary[] = "s3cr3t-canary-value";

/* --- helpers ------------------------------------------------------------------------------ */

static json_t *parse(const char *text)
{
    enum cf_json_error why;
    json_t *v = cf_json_parse(text, strlen(text), JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &why);
    if (v == NULL)
        fail_msg("test bundle is not JSON: %s", text);
    return v;
}

/* Builds the variables of the bundle text; returns the code, err holds the message. The
 * values are borrowed from the tree: it is kept until done() frees it. */
static json_t *kept;

static int from_text(const char *text, const struct cli_env_opts *opts, struct cli_env *env,
                     char *err, size_t errcap)
{
    json_decref(kept);
    kept = parse(text);
    return cli_env_from_bundle(kept, opts, env, err, errcap);
}

/* Frees env and the tree from_text() kept. */
static void done(struct cli_env *env)
{
    cli_env_free(env);
    json_decref(kept);
    kept = NULL;
}

/* Group teardown: the last test's tree. */
static int free_kept(void **state)
{
    (void)state;
    json_decref(kept);
    kept = NULL;
    return 0;
}

static void assert_var(const struct cli_env *env, size_t i, const char *name, const char *value,
                       const char *credential, const char *key)
{
    assert_true(i < env->n);
    assert_string_equal(env->vars[i].name, name);
    assert_int_equal(env->vars[i].value_len, strlen(value));
    assert_memory_equal(env->vars[i].value, value, strlen(value));
    assert_string_equal(env->vars[i].credential, credential);
    assert_string_equal(env->vars[i].key, key);
}

/* Asserts that text is refused with CF_EINVAL, out left empty and the message holding each of
 * the NULL-terminated list of words and never the canary value. */
static void assert_refused(const char *text, const struct cli_env_opts *opts, ...)
{
    struct cli_env env = { .vars = (void *)1, .n = 99 };
    char err[512] = "untouched";
    va_list ap;

    assert_int_equal(from_text(text, opts, &env, err, sizeof(err)), CF_EINVAL);
    assert_null(env.vars);
    assert_int_equal(env.n, 0);
    assert_true(err[0] != '\0');
    assert_null(strstr(err, canary));
    va_start(ap, opts);
    for (const char *w = va_arg(ap, const char *); w != NULL; w = va_arg(ap, const char *)) {
        if (strstr(err, w) == NULL)
            fail_msg("message \"%s\" does not name \"%s\"", err, w);
    }
    va_end(ap);
    done(&env);
}

/* --- names -------------------------------------------------------------------------------- */

static void test_name_upper_cases_and_turns_dashes_and_dots_into_underscores(void **state)
{
    (void)state;
    char n[CLI_ENV_NAME_MAX];

    assert_int_equal(cli_env_name(NULL, NULL, "db-password.v2", n), 0);
    assert_string_equal(n, "DB_PASSWORD_V2");
    assert_int_equal(cli_env_name(NULL, NULL, "Already_UPPER_9", n), 0);
    assert_string_equal(n, "ALREADY_UPPER_9");
    assert_int_equal(cli_env_name("app-", "db.", "user", n), 0);
    assert_string_equal(n, "APP_DB_USER");
    assert_int_equal(cli_env_name("", "DB_", "password", n), 0);
    assert_string_equal(n, "DB_PASSWORD");
    assert_int_equal(cli_env_name("X_", NULL, "k", n), 0);
    assert_string_equal(n, "X_K");
}

static void test_name_keeps_other_bytes_so_that_the_name_is_invalid(void **state)
{
    (void)state;
    char n[CLI_ENV_NAME_MAX];

    assert_int_equal(cli_env_name(NULL, NULL, "bad key", n), 0);
    assert_string_equal(n, "BAD KEY");
    assert_false(cli_env_name_valid(n));
    assert_int_equal(cli_env_name(NULL, NULL, "caf\xc3\xa9", n), 0);
    assert_string_equal(n, "CAF\xc3\xa9"); /* not upper-cased, not dropped */
    assert_false(cli_env_name_valid(n));
    assert_int_equal(cli_env_name(NULL, NULL, "9lives", n), 0);
    assert_false(cli_env_name_valid(n));
    assert_int_equal(cli_env_name(NULL, NULL, "a=b", n), 0);
    assert_false(cli_env_name_valid(n));
    assert_int_equal(cli_env_name(NULL, NULL, "", n), 0);
    assert_false(cli_env_name_valid(n));
}

static void test_name_that_does_not_fit_is_etoobig(void **state)
{
    (void)state;
    char key[CLI_ENV_NAME_MAX + 1], n[CLI_ENV_NAME_MAX];

    memset(key, 'k', CLI_ENV_NAME_MAX - 1);
    key[CLI_ENV_NAME_MAX - 1] = '\0'; /* 255 bytes: the longest that fits */
    assert_int_equal(cli_env_name(NULL, NULL, key, n), 0);
    assert_int_equal(strlen(n), CLI_ENV_NAME_MAX - 1);
    assert_true(cli_env_name_valid(n));
    assert_int_equal(cli_env_name("P", NULL, key, n), CF_ETOOBIG);
    assert_int_equal(cli_env_name(NULL, "P", key, n), CF_ETOOBIG);
    key[CLI_ENV_NAME_MAX - 1] = 'k';
    key[CLI_ENV_NAME_MAX] = '\0';
    assert_int_equal(cli_env_name(NULL, NULL, key, n), CF_ETOOBIG);
    assert_int_equal(cli_env_name(NULL, NULL, NULL, n), CF_EINVAL);
}

static void test_name_valid_accepts_shell_names_only(void **state)
{
    (void)state;
    char longest[CLI_ENV_NAME_MAX + 1];

    assert_true(cli_env_name_valid("A"));
    assert_true(cli_env_name_valid("_"));
    assert_true(cli_env_name_valid("_9"));
    assert_true(cli_env_name_valid("db_Password2"));
    assert_false(cli_env_name_valid(NULL));
    assert_false(cli_env_name_valid(""));
    assert_false(cli_env_name_valid("9A"));
    assert_false(cli_env_name_valid("A-B"));
    assert_false(cli_env_name_valid("A.B"));
    assert_false(cli_env_name_valid("A B"));
    assert_false(cli_env_name_valid("A=B"));
    assert_false(cli_env_name_valid("\xc3\xa9"));
    memset(longest, 'A', CLI_ENV_NAME_MAX - 1);
    longest[CLI_ENV_NAME_MAX - 1] = '\0';
    assert_true(cli_env_name_valid(longest));
    longest[CLI_ENV_NAME_MAX - 1] = 'A';
    longest[CLI_ENV_NAME_MAX] = '\0';
    assert_false(cli_env_name_valid(longest));
}

/* --- bundles ------------------------------------------------------------------------------ */

static void test_bundle_gives_every_pair_in_order_with_both_prefixes(void **state)
{
    (void)state;
    struct cli_env env;
    char err[256];
    const char *text =
        "{\"id\": \"web\", \"credentials\": ["
        "{\"id\": \"c1\", \"metadata\": {\"env_var_prefix\": \"DB_\"}, "
        "\"credential_pairs\": {\"password\": \"pw\", \"user-name\": \"web\"}},"
        "{\"id\": \"c2\", \"metadata\": {}, \"credential_pairs\": {\"api.key\": \"k\"}},"
        "{\"id\": \"c3\", \"credential_pairs\": {\"empty\": \"\"}}]}";

    assert_int_equal(from_text(text, NULL, &env, err, sizeof(err)), 0);
    assert_string_equal(err, "");
    assert_int_equal(env.n, 4);
    assert_var(&env, 0, "DB_PASSWORD", "pw", "c1", "password");
    assert_var(&env, 1, "DB_USER_NAME", "web", "c1", "user-name");
    assert_var(&env, 2, "API_KEY", "k", "c2", "api.key");
    assert_var(&env, 3, "EMPTY", "", "c3", "empty");
    cli_env_free(&env);
    assert_null(env.vars);
    assert_int_equal(env.n, 0);
    cli_env_free(&env); /* a second free is a no-op */

    struct cli_env_opts opts = { .prefix = "app-", .skip_invalid = false };
    assert_int_equal(from_text(text, &opts, &env, err, sizeof(err)), 0);
    assert_int_equal(env.n, 4);
    assert_var(&env, 0, "APP_DB_PASSWORD", "pw", "c1", "password");
    assert_var(&env, 2, "APP_API_KEY", "k", "c2", "api.key");
    cli_env_free(&env);
}

static void test_values_are_borrowed_from_the_bundle(void **state)
{
    (void)state;
    struct cli_env env;
    char err[256];
    json_t *b = parse("{\"credentials\": [{\"id\": \"c\", \"metadata\": {}, "
                      "\"credential_pairs\": {\"k\": \"line1\\nline2 \\u00e9\"}}]}");

    assert_int_equal(cli_env_from_bundle(b, NULL, &env, err, sizeof(err)), 0);
    json_t *v = json_object_get(
        json_object_get(json_array_get(json_object_get(b, "credentials"), 0), "credential_pairs"),
        "k");
    assert_int_equal(env.n, 1);
    assert_ptr_equal(env.vars[0].value, json_string_value(v));
    assert_int_equal(env.vars[0].value_len, json_string_length(v));
    assert_int_equal(env.vars[0].value_len, 14);
    cli_env_free(&env);
    json_decref(b);
}

static void test_a_disabled_credential_contributes_nothing(void **state)
{
    (void)state;
    struct cli_env env;
    char err[256];

    assert_int_equal(from_text("{\"credentials\": ["
                               "{\"id\": \"off\", \"enabled\": false, \"metadata\": "
                               "{\"env_var_prefix\": \"OLD_\"}, \"credential_pairs\": {}},"
                               "{\"id\": \"on\", \"metadata\": {}, "
                               "\"credential_pairs\": {\"cert\": \"c\"}}]}",
                               NULL, &env, err, sizeof(err)),
                     0);
    assert_int_equal(env.n, 1);
    assert_var(&env, 0, "CERT", "c", "on", "cert");
    cli_env_free(&env);

    assert_int_equal(from_text("{\"credentials\": [{\"id\": \"off\", \"metadata\": {}, "
                               "\"credential_pairs\": {}}]}",
                               NULL, &env, err, sizeof(err)),
                     0);
    assert_int_equal(env.n, 0);
    cli_env_free(&env);
    assert_int_equal(from_text("{\"credentials\": []}", NULL, &env, err, sizeof(err)), 0);
    assert_int_equal(env.n, 0);
    cli_env_free(&env);
}

static void test_an_invalid_name_is_refused_naming_the_credential_and_key(void **state)
{
    (void)state;
    char text[512];

    snprintf(text, sizeof(text),
             "{\"credentials\": [{\"id\": \"cred-a\", \"metadata\": {}, \"credential_pairs\": "
             "{\"good\": \"v\", \"bad key\": \"%s\"}}]}",
             canary);
    assert_refused(text, NULL, "cred-a", "bad key", NULL);
    snprintf(text, sizeof(text),
             "{\"credentials\": [{\"id\": \"cred-b\", \"metadata\": {}, \"credential_pairs\": "
             "{\"9lives\": \"%s\"}}]}",
             canary);
    assert_refused(text, NULL, "cred-b", "9lives", NULL);
    snprintf(text, sizeof(text),
             "{\"credentials\": [{\"id\": \"cred-c\", \"metadata\": {\"env_var_prefix\": "
             "\"1_\"}, \"credential_pairs\": {\"k\": \"%s\"}}]}",
             canary);
    assert_refused(text, NULL, "cred-c", "k", NULL);
}

static void test_a_key_with_control_bytes_is_named_without_them(void **state)
{
    (void)state;
    struct cli_env env;
    char err[256];

    assert_int_equal(from_text("{\"credentials\": [{\"id\": \"c\", \"metadata\": {}, "
                               "\"credential_pairs\": {\"a\\u001b[31m\\u202e\": \"v\"}}]}",
                               NULL, &env, err, sizeof(err)),
                     CF_EINVAL);
    assert_null(strchr(err, '\x1b'));
    assert_null(strstr(err, "\xe2\x80\xae")); /* U+202E */
    assert_non_null(strstr(err, "a\\x1b[31m\\u202e"));
}

static void test_too_long_a_name_is_refused_or_skipped(void **state)
{
    (void)state;
    struct cli_env env;
    char key[300], text[800], err[512];
    struct cli_env_opts skip = { .prefix = NULL, .skip_invalid = true };

    memset(key, 'k', 256);
    key[256] = '\0';
    snprintf(text, sizeof(text),
             "{\"credentials\": [{\"id\": \"c\", \"metadata\": {}, \"credential_pairs\": "
             "{\"%s\": \"%s\", \"ok\": \"v\"}}]}",
             key, canary);
    assert_refused(text, NULL, "too long", "credential c", NULL);
    assert_int_equal(from_text(text, &skip, &env, err, sizeof(err)), 0);
    assert_int_equal(env.n, 1);
    assert_var(&env, 0, "OK", "v", "c", "ok");
    cli_env_free(&env);
}

static void test_skip_invalid_skips_only_the_invalid_names(void **state)
{
    (void)state;
    struct cli_env env;
    char err[256];
    struct cli_env_opts skip = { .prefix = NULL, .skip_invalid = true };

    assert_int_equal(from_text("{\"credentials\": [{\"id\": \"c\", \"metadata\": {}, "
                               "\"credential_pairs\": {\"bad key\": \"x\", \"good\": \"g\", "
                               "\"9lives\": \"y\", \"caf\\u00e9\": \"z\", \"also-good\": \"a\"}}]}",
                               &skip, &env, err, sizeof(err)),
                     0);
    assert_int_equal(env.n, 2);
    assert_var(&env, 0, "GOOD", "g", "c", "good");
    assert_var(&env, 1, "ALSO_GOOD", "a", "c", "also-good");
    cli_env_free(&env);
}

static void test_two_pairs_giving_one_name_are_refused(void **state)
{
    (void)state;
    char text[512];
    struct cli_env_opts skip = { .prefix = NULL, .skip_invalid = true };

    /* in two credentials */
    snprintf(text, sizeof(text),
             "{\"credentials\": ["
             "{\"id\": \"cred-one\", \"metadata\": {}, \"credential_pairs\": "
             "{\"db-password\": \"%s\"}},"
             "{\"id\": \"cred-two\", \"metadata\": {}, \"credential_pairs\": "
             "{\"x\": \"1\", \"db_password\": \"%s\"}}]}",
             canary, canary);
    assert_refused(text, NULL, "cred-one", "cred-two", "db-password", "db_password", "DB_PASSWORD",
                   NULL);
    assert_refused(text, &skip, "DB_PASSWORD", NULL); /* skip_invalid does not skip these */
    /* in one credential */
    snprintf(text, sizeof(text),
             "{\"credentials\": [{\"id\": \"cred-one\", \"metadata\": {}, \"credential_pairs\": "
             "{\"a.b\": \"%s\", \"A-B\": \"%s\"}}]}",
             canary, canary);
    assert_refused(text, NULL, "a.b", "A-B", "A_B", NULL);
    /* the same credential id twice in a bundle */
    snprintf(text, sizeof(text),
             "{\"credentials\": [{\"id\": \"c\", \"metadata\": {}, \"credential_pairs\": "
             "{\"k\": \"%s\"}}, {\"id\": \"c\", \"metadata\": {}, \"credential_pairs\": "
             "{\"k\": \"%s\"}}]}",
             canary, canary);
    assert_refused(text, NULL, "both", "K", NULL);
}

static void test_a_prefix_can_make_two_names_collide(void **state)
{
    (void)state;
    char text[512];

    snprintf(text, sizeof(text),
             "{\"credentials\": ["
             "{\"id\": \"web-db\", \"metadata\": {\"env_var_prefix\": \"DB_\"}, "
             "\"credential_pairs\": {\"password\": \"%s\"}},"
             "{\"id\": \"other\", \"metadata\": {}, \"credential_pairs\": "
             "{\"db.password\": \"%s\"}}]}",
             canary, canary);
    assert_refused(text, NULL, "web-db", "other", "password", "db.password", "DB_PASSWORD", NULL);
    /* and the option prefix applies to both, so it still collides */
    struct cli_env_opts opts = { .prefix = "APP_", .skip_invalid = false };
    assert_refused(text, &opts, "APP_DB_PASSWORD", NULL);
}

static void test_a_value_that_is_not_a_string_is_refused(void **state)
{
    (void)state;
    static const char *const values[] = { "5", "null", "true", "[\"s3cr3t-canary-value\"]",
                                          "{\"v\": \"s3cr3t-canary-value\"}" };
    char text[512];

    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        snprintf(text, sizeof(text),
                 "{\"credentials\": [{\"id\": \"cred-n\", \"metadata\": {}, "
                 "\"credential_pairs\": {\"ok\": \"v\", \"num\": %s}}]}",
                 values[i]);
        assert_refused(text, NULL, "cred-n", "num", "not a string", NULL);
    }
}

static void test_a_value_holding_a_nul_is_refused(void **state)
{
    (void)state;
    struct cli_env env;
    char err[256];
    json_t *b = parse("{\"credentials\": [{\"id\": \"c\", \"metadata\": {}, "
                      "\"credential_pairs\": {}}]}");
    json_t *pairs =
        json_object_get(json_array_get(json_object_get(b, "credentials"), 0), "credential_pairs");

    assert_int_equal(json_object_set_new(pairs, "k", json_stringn("a\0b", 3)), 0);
    assert_int_equal(cli_env_from_bundle(b, NULL, &env, err, sizeof(err)), CF_EINVAL);
    assert_non_null(strstr(err, "NUL"));
    assert_null(env.vars);
    json_decref(b);
}

static void test_bundles_of_the_wrong_shape_are_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "[]",
        "\"credentials\"",
        "{}",
        "{\"credentials\": null}",
        "{\"credentials\": {}}",
        "{\"credentials\": \"c\"}",
        "{\"credentials\": [1]}",
        "{\"credentials\": [null]}",
        "{\"credentials\": [[]]}",
        "{\"credentials\": [{}]}",
        "{\"credentials\": [{\"id\": 5, \"credential_pairs\": {}}]}",
        "{\"credentials\": [{\"credential_pairs\": {\"k\": \"s3cr3t-canary-value\"}}]}",
        "{\"credentials\": [{\"id\": \"c\"}]}",
        "{\"credentials\": [{\"id\": \"c\", \"credential_pairs\": null}]}",
        "{\"credentials\": [{\"id\": \"c\", \"credential_pairs\": [\"s3cr3t-canary-value\"]}]}",
        "{\"credentials\": [{\"id\": \"c\", \"credential_pairs\": \"s3cr3t-canary-value\"}]}",
        "{\"credentials\": [{\"id\": \"c\", \"metadata\": \"m\", \"credential_pairs\": {}}]}",
        "{\"credentials\": [{\"id\": \"c\", \"metadata\": {\"env_var_prefix\": 1}, "
        "\"credential_pairs\": {}}]}",
        "{\"credentials\": [{\"id\": \"ok\", \"metadata\": {}, \"credential_pairs\": "
        "{\"k\": \"v\"}}, 7]}",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_refused(bad[i], NULL, NULL);

    struct cli_env env = { 0 };
    char err[64];
    assert_int_equal(cli_env_from_bundle(NULL, NULL, &env, err, sizeof(err)), CF_EINVAL);
    assert_null(env.vars);
    /* no room for a message: still refused, no write */
    assert_int_equal(from_text("{}", NULL, &env, NULL, 0), CF_EINVAL);
    err[0] = 'x';
    assert_int_equal(from_text("{}", NULL, &env, err, 0), CF_EINVAL);
    assert_int_equal(err[0], 'x');
    /* a small err is cut, not overrun */
    char small[8];
    assert_int_equal(from_text("{}", NULL, &env, small, sizeof(small)), CF_EINVAL);
    assert_int_equal(strlen(small), sizeof(small) - 1);
}

static void test_null_metadata_and_prefix_mean_no_prefix(void **state)
{
    (void)state;
    struct cli_env env;
    char err[256];

    assert_int_equal(from_text("{\"credentials\": ["
                               "{\"id\": \"a\", \"metadata\": null, \"credential_pairs\": "
                               "{\"k1\": \"v\"}},"
                               "{\"id\": \"b\", \"metadata\": {\"env_var_prefix\": null}, "
                               "\"credential_pairs\": {\"k2\": \"v\"}}]}",
                               NULL, &env, err, sizeof(err)),
                     0);
    assert_int_equal(env.n, 2);
    assert_var(&env, 0, "K1", "v", "a", "k1");
    assert_var(&env, 1, "K2", "v", "b", "k2");
    cli_env_free(&env);
}

/* --- envp --------------------------------------------------------------------------------- */

static size_t envp_len(char **envp)
{
    size_t n = 0;
    while (envp[n] != NULL)
        n++;
    return n;
}

/* --- names a bundle may set only when allowed, and what exec's command inherits ------------ */

static void test_unsafe_classifies_the_loader_libc_shell_and_interpreter_names(void **state)
{
    (void)state;
    /* every family: the exact names, and the prefixes with anything after them */
    static const char *const unsafe[] = {
        "LD_PRELOAD",
        "LD_LIBRARY_PATH",
        "LD_AUDIT",
        "LD_",
        "DYLD_INSERT_LIBRARIES",
        "GCONV_PATH",
        "GETCONF_DIR",
        "GLIBC_TUNABLES",
        "HOSTALIASES",
        "LOCALDOMAIN",
        "LOCPATH",
        "MALLOC_CHECK_",
        "MALLOC_ARENA_MAX",
        "NIS_PATH",
        "NLSPATH",
        "RESOLV_HOST_CONF",
        "RES_OPTIONS",
        "TMPDIR",
        "TZDIR",
        "PATH",
        "HOME",
        "BASH_ENV",
        "ENV",
        "BASH_FUNC_ls",
        "SHELLOPTS",
        "BASHOPTS",
        "PS4",
        "PROMPT_COMMAND",
        "IFS",
        "CDPATH",
        "GLOBIGNORE",
        "ZDOTDIR",
        "PYTHONPATH",
        "PYTHONSTARTUP",
        "PYTHONHOME",
        "PYTHONWARNINGS",
        "PYTHON",
        "PERL5LIB",
        "PERL5OPT",
        "PERLLIB",
        "RUBYOPT",
        "RUBYLIB",
        "NODE_OPTIONS",
        "NODE_PATH",
        "JAVA_TOOL_OPTIONS",
        "_JAVA_OPTIONS",
        "JDK_JAVA_OPTIONS",
        "CLASSPATH",
        "PHPRC",
        "PHP_INI_SCAN_DIR",
        "LUA_INIT",
        "LUA_PATH_5_4",
        "GIT_SSH",
        "GIT_SSH_COMMAND",
        "GIT_ASKPASS",
        "SSH_ASKPASS",
        "GIT_EXEC_PATH",
        "GIT_CONFIG",
        "GIT_CONFIG_COUNT",
        "GIT_CONFIG_KEY_0",
        "GIT_CONFIG_PARAMETERS",
    };
    /* names that merely look alike, and the AWS keys a bundle delivers to its command */
    static const char *const safe[] = {
        "DB_PASSWORD",
        "API_KEY",
        "LDAP_URL",
        "LD",
        "OLD_PRELOAD",
        "PATHS",
        "PATH_PREFIX",
        "MY_PATH",
        "HOME_URL",
        "ENVIRONMENT",
        "ENV_NAME",
        "IFS_X",
        "NODE_ENV",
        "MALLOC",
        "LUA",
        "GIT_TOKEN",
        "GITHUB_TOKEN",
        "PERL",
        "RUBY_VERSION",
        "JAVA_HOME",
        "TMPDIR_X",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "COFFER_URL",
        "ld_preload",
        "path",
        "",
    };
    for (size_t i = 0; i < sizeof(unsafe) / sizeof(unsafe[0]); i++) {
        const char *reader = cli_env_unsafe(unsafe[i]);
        if (reader == NULL || reader[0] == '\0')
            fail_msg("%s is not classified as read at start", unsafe[i]);
    }
    for (size_t i = 0; i < sizeof(safe) / sizeof(safe[0]); i++) {
        if (cli_env_unsafe(safe[i]) != NULL)
            fail_msg("%s is classified as read at start (by %s)", safe[i], cli_env_unsafe(safe[i]));
    }
    assert_null(cli_env_unsafe(NULL));
    assert_non_null(strstr(cli_env_unsafe("LD_PRELOAD"), "loader"));
    assert_non_null(strstr(cli_env_unsafe("BASH_ENV"), "bash"));
    assert_non_null(strstr(cli_env_unsafe("PYTHONPATH"), "python"));
}

/* A bundle setting LD_PRELOAD and PATH by their keys and BASH_ENV by an env_var_prefix
 * ("BASH_") and a key ("env"), and one safe pair. */
static const char unsafe_bundle[] =
    "{\"credentials\": ["
    "{\"id\": \"cred-loader\", \"metadata\": {}, \"credential_pairs\": "
    "{\"ld_preload\": \"/tmp/evil.so\", \"db-password\": \"pw\"}},"
    "{\"id\": \"cred-shell\", \"metadata\": {\"env_var_prefix\": \"BASH_\"}, "
    "\"credential_pairs\": {\"env\": \"/tmp/evil.sh\"}},"
    "{\"id\": \"cred-path\", \"metadata\": {}, \"credential_pairs\": {\"path\": \"/tmp\"}}]}";

static void test_unsafe_names_refuse_the_bundle_naming_each_unless_allowed(void **state)
{
    (void)state;
    struct cli_env env;
    char err[1024];

    /* by default: refused, every one named with its credential and key, and who reads it */
    assert_refused(unsafe_bundle, NULL, "LD_PRELOAD", "cred-loader", "ld_preload", "BASH_ENV",
                   "cred-shell", "PATH", "cred-path", "--allow-env", "loader", NULL);
    assert_int_equal(from_text(unsafe_bundle, NULL, &env, err, sizeof(err)), CF_EINVAL);
    assert_null(strstr(err, "DB_PASSWORD"));
    assert_null(strstr(err, "/tmp"));
    done(&env);

    /* allowing two of three: refused, naming the third only */
    const char *const two[] = { "LD_PRELOAD", "PATH", NULL };
    struct cli_env_opts allow_two = { .allow = two };
    assert_refused(unsafe_bundle, &allow_two, "BASH_ENV", "cred-shell", NULL);
    assert_int_equal(from_text(unsafe_bundle, &allow_two, &env, err, sizeof(err)), CF_EINVAL);
    assert_null(strstr(err, "LD_PRELOAD"));
    assert_null(strstr(err, "cred-path"));
    done(&env);

    /* skip_invalid does not skip them; allowed by another spelling they are not allowed */
    const char *const lower[] = { "ld_preload", "path", "bash_env", "LD_*", NULL };
    struct cli_env_opts skip = { .skip_invalid = true, .allow = lower };
    assert_refused(unsafe_bundle, &skip, "LD_PRELOAD", "PATH", "BASH_ENV", NULL);

    /* all three allowed: every pair, in order */
    const char *const all[] = { "BASH_ENV", "PATH", "LD_PRELOAD", NULL };
    struct cli_env_opts allow_all = { .allow = all };
    assert_int_equal(from_text(unsafe_bundle, &allow_all, &env, err, sizeof(err)), 0);
    assert_int_equal(env.n, 4);
    assert_var(&env, 0, "LD_PRELOAD", "/tmp/evil.so", "cred-loader", "ld_preload");
    assert_var(&env, 1, "DB_PASSWORD", "pw", "cred-loader", "db-password");
    assert_var(&env, 2, "BASH_ENV", "/tmp/evil.sh", "cred-shell", "env");
    assert_var(&env, 3, "PATH", "/tmp", "cred-path", "path");
    done(&env);

    /* a prefix of the caller's makes every name harmless */
    struct cli_env_opts prefixed = { .prefix = "APP_" };
    assert_int_equal(from_text(unsafe_bundle, &prefixed, &env, err, sizeof(err)), 0);
    assert_int_equal(env.n, 4);
    assert_string_equal(env.vars[0].name, "APP_LD_PRELOAD");
    assert_string_equal(env.vars[2].name, "APP_BASH_ENV");
    done(&env);
}

static void test_omit_unsafe_drops_the_unsafe_names_and_keeps_the_rest_in_order(void **state)
{
    (void)state;
    struct cli_env env;
    char err[256];

    struct cli_env_opts omit = { .omit_unsafe = true };
    assert_int_equal(from_text(unsafe_bundle, &omit, &env, err, sizeof(err)), 0);
    assert_int_equal(env.n, 1);
    assert_var(&env, 0, "DB_PASSWORD", "pw", "cred-loader", "db-password");
    done(&env);

    const char *const path[] = { "PATH", NULL };
    struct cli_env_opts omit_but_path = { .omit_unsafe = true, .allow = path };
    assert_int_equal(from_text(unsafe_bundle, &omit_but_path, &env, err, sizeof(err)), 0);
    assert_int_equal(env.n, 2);
    assert_var(&env, 0, "DB_PASSWORD", "pw", "cred-loader", "db-password");
    assert_var(&env, 1, "PATH", "/tmp", "cred-path", "path");
    done(&env);

    /* a collision is refused all the same, even between two unsafe names */
    char text[512];
    snprintf(text, sizeof(text),
             "{\"credentials\": [{\"id\": \"c\", \"metadata\": {}, \"credential_pairs\": "
             "{\"ld-preload\": \"%s\", \"ld_preload\": \"%s\"}}]}",
             canary, canary);
    assert_refused(text, &omit, "ld-preload", "ld_preload", "LD_PRELOAD", NULL);
}

static void test_withheld_are_coffers_settings_and_aws_credentials_only(void **state)
{
    (void)state;
    static const char *const withheld[] = {
        "COFFER_TOKEN",
        "COFFER_TOKEN_FILE",
        "COFFER_URL",
        "COFFER_LOCAL_KEY_FILE",
        "COFFER_AUTH_KEY",
        "COFFER_KMS_BACKEND",
        "COFFER_",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    };
    static const char *const passed[] = {
        "COFFER",
        "MY_COFFER_TOKEN",
        "coffer_token",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_PROFILE",
        "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
        "AWS_ENDPOINT_URL_KMS",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
        "AWS_ACCESS_KEY_ID_X",
        "AWS_ACCESS_KEY",
        "PATH",
        "",
    };
    for (size_t i = 0; i < sizeof(withheld) / sizeof(withheld[0]); i++) {
        if (!cli_env_withheld(withheld[i], strlen(withheld[i])))
            fail_msg("%s is passed on", withheld[i]);
    }
    for (size_t i = 0; i < sizeof(passed) / sizeof(passed[0]); i++) {
        if (cli_env_withheld(passed[i], strlen(passed[i])))
            fail_msg("%s is withheld", passed[i]);
    }
    /* len counts: the name of "AWS_SESSION_TOKEN=x" is its first 17 bytes */
    assert_true(cli_env_withheld("AWS_SESSION_TOKEN=x", 17));
    assert_false(cli_env_withheld("AWS_SESSION_TOKEN=x", 16));
    assert_false(cli_env_withheld(NULL, 0));
}

static void test_inherited_withholds_keeps_by_name_and_honours_pristine(void **state)
{
    (void)state;
    char *own[] = { "PATH=/usr/bin",
                    "COFFER_TOKEN=coffer_abc",
                    "COFFER_TOKEN_FILE=/etc/coffer/token",
                    "COFFER_LOCAL_KEY_FILE=/etc/coffer/keys.json",
                    "AWS_ACCESS_KEY_ID=AKIA",
                    "AWS_SECRET_ACCESS_KEY=secret",
                    "AWS_REGION=eu-west-1",
                    "LD_PRELOAD=/usr/lib/host.so", /* the host's own: passed as it is */
                    "COFFER_NO_EQUALS",
                    "HOME=/root",
                    NULL };
    char **in = cli_env_inherited(own, false, NULL);
    assert_int_equal(envp_len(in), 4);
    assert_ptr_equal(in[0], own[0]); /* borrowed */
    assert_string_equal(in[1], "AWS_REGION=eu-west-1");
    assert_string_equal(in[2], "LD_PRELOAD=/usr/lib/host.so");
    assert_string_equal(in[3], "HOME=/root");
    free(in);

    const char *const keep[] = {
        "COFFER_LOCAL_KEY_FILE", "AWS_ACCESS_KEY_ID", "HOME", "NOPE", "COFFER_TOKEN_FIL", NULL
    };
    in = cli_env_inherited(own, false, keep);
    assert_int_equal(envp_len(in), 6);
    assert_string_equal(in[0], "PATH=/usr/bin");
    assert_string_equal(in[1], "COFFER_LOCAL_KEY_FILE=/etc/coffer/keys.json");
    assert_string_equal(in[2], "AWS_ACCESS_KEY_ID=AKIA");
    assert_string_equal(in[5], "HOME=/root");
    free(in);

    /* pristine: nothing inherited but what is kept, withheld or not */
    in = cli_env_inherited(own, true, keep);
    assert_int_equal(envp_len(in), 3);
    assert_string_equal(in[0], "COFFER_LOCAL_KEY_FILE=/etc/coffer/keys.json");
    assert_string_equal(in[1], "AWS_ACCESS_KEY_ID=AKIA");
    assert_string_equal(in[2], "HOME=/root");
    free(in);
    in = cli_env_inherited(own, true, NULL);
    assert_null(in[0]);
    free(in);
    in = cli_env_inherited(NULL, false, keep);
    assert_null(in[0]);
    free(in);
}

static void test_envp_drops_base_entries_the_bundle_sets(void **state)
{
    (void)state;
    struct cli_env env;
    char err[256];
    char *base[] = { "PATH=/usr/bin:/bin", "DB_PASSWORD=old", "HOME=/root",
                     "DB_PASSWORDX=kept",  "DB_PASSWOR=kept", "API_KEY",
                     "API_KEY=old2",       "EMPTY=",          NULL };

    assert_int_equal(from_text("{\"credentials\": [{\"id\": \"c\", \"metadata\": {}, "
                               "\"credential_pairs\": {\"db-password\": \"new=pw\\nx\", "
                               "\"api_key\": \"\"}}]}",
                               NULL, &env, err, sizeof(err)),
                     0);
    char **envp = cli_env_envp(&env, base);
    assert_int_equal(envp_len(envp), 7);
    assert_string_equal(envp[0], "PATH=/usr/bin:/bin");
    assert_string_equal(envp[1], "HOME=/root");
    assert_string_equal(envp[2], "DB_PASSWORDX=kept");
    assert_string_equal(envp[3], "DB_PASSWOR=kept");
    assert_string_equal(envp[4], "EMPTY=");
    assert_string_equal(envp[5], "DB_PASSWORD=new=pw\nx");
    assert_string_equal(envp[6], "API_KEY=");
    assert_ptr_not_equal(envp[0], base[0]); /* a copy, not the base's string */
    cli_env_envp_free(envp);
    cli_env_envp_free(NULL);

    envp = cli_env_envp(&env, NULL);
    assert_int_equal(envp_len(envp), 2);
    assert_string_equal(envp[0], "DB_PASSWORD=new=pw\nx");
    assert_string_equal(envp[1], "API_KEY=");
    cli_env_envp_free(envp);
    cli_env_free(&env);

    struct cli_env none = { 0 };
    envp = cli_env_envp(&none, base);
    assert_int_equal(envp_len(envp), 8); /* nothing set: everything kept */
    cli_env_envp_free(envp);
    envp = cli_env_envp(&none, NULL);
    assert_null(envp[0]);
    cli_env_envp_free(envp);
}

/* --- writing, and reading back through real shells ---------------------------------------- */

static void test_write_quotes_each_format_as_documented(void **state)
{
    (void)state;
    struct cli_env env;
    char err[256];
    struct cf_buf b = { 0 };

    assert_int_equal(from_text("{\"credentials\": [{\"id\": \"c\", \"metadata\": {}, "
                               "\"credential_pairs\": {\"a\": \"it's\", \"b\": "
                               "\"\\\\ \\\" $ ` '\", \"c\": \"\"}}]}",
                               NULL, &env, err, sizeof(err)),
                     0);
    cli_env_write(&env, CLI_ENV_SH, &b);
    assert_string_equal(b.data, "A='it'\\''s'\nB='\\ \" $ ` '\\'''\nC=''\n");
    cf_buf_reset(&b);
    cli_env_write(&env, CLI_ENV_EXPORT, &b);
    assert_string_equal(b.data, "export A='it'\\''s'\nexport B='\\ \" $ ` '\\'''\nexport C=''\n");
    cf_buf_reset(&b);
    cli_env_write(&env, CLI_ENV_DOTENV, &b);
    assert_string_equal(b.data, "A=\"it's\"\nB=\"\\\\ \\\" \\$ \\` '\"\nC=\"\"\n");
    cf_buf_free(&b);
    cli_env_free(&env);

    struct cli_env none = { 0 };
    cli_env_write(&none, CLI_ENV_SH, &b);
    assert_int_equal(b.len, 0);
    cf_buf_free(&b);
}

/* Values that break naive quoting. */
static const char *const hard_values[] = {
    "plain",
    "line1\nline2\n\nline4",
    "it's",
    "''",
    "'",
    "say \"hi\"",
    "\"",
    "$HOME",
    "${HOME:-x}$(echo injected)",
    "`echo injected`",
    "back\\slash",
    "ends with a backslash\\",
    "\\",
    "\\n",
    "\\\nafter a backslash-newline",
    "\\'\\\"\\$\\`",
    "trailing newline\n",
    "\n",
    "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80",
    "",
    "-n",
    "-",
    "--",
    "  leading and trailing spaces  ",
    "\ttab\rcarriage\x01\x7f",
    "!bang !! ~ * ? [a] # %s %b \\0 \\c",
    "a=b; echo injected & | < > ( ) { }",
};
#define N_HARD (sizeof(hard_values) / sizeof(hard_values[0]))

static const char *work_dir(void)
{
    // NOLINTNEXTLINE(concurrency-mt-unsafe): single-threaded test
    const char *w = getenv("COFFER_TEST_WORK");
    return w != NULL && w[0] != '\0' ? w : "/tmp";
}

/* Writes b to a new temporary file; its path goes to path[cap]. */
static void write_temp(const struct cf_buf *b, char *path, size_t cap)
{
    assert_int_equal(cf_fmt(path, cap, "%s/coffer-cli-env-XXXXXX", work_dir()), 0);
    assert_null(strchr(path, '\'')); /* it is quoted in single quotes below */
    int fd = mkstemp(path);
    if (fd < 0)
        fail_msg("mkstemp in %s failed (errno %d)", work_dir(), errno);
    size_t off = 0;
    while (off < b->len) {
        ssize_t w = write(fd, b->data + off, b->len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            fail_msg("write %s failed (errno %d)", path, errno);
        off += (size_t)w; /* w > 0: checked above */
    }
    assert_int_equal(close(fd), 0);
}

/* Runs shell -c script with stdout on a pipe; returns the exit status, output in out. */
static int run_shell(const char *shell, const char *script, struct cf_buf *out)
{
    int fds[2];
    char *const argv[] = { (char *)shell, "-c", (char *)script, NULL };
    /* HOME is set so that an expanded $HOME would show; BASH_ENV and ENV are not */
    char *const envp[] = { "HOME=/home/expanded", "PATH=/usr/bin:/bin", NULL };

    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    if (pid < 0)
        fail_msg("fork failed (errno %d)", errno);
    if (pid == 0) {
        if (dup2(fds[1], STDOUT_FILENO) < 0)
            _exit(126);
        close(fds[0]);
        close(fds[1]);
        execve(shell, argv, envp);
        _exit(127);
    }
    close(fds[1]);
    char chunk[4096];
    for (;;) {
        ssize_t n = read(fds[0], chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            fail_msg("read from %s failed (errno %d)", shell, errno);
        if (n == 0)
            break;
        cf_buf_append(out, chunk, (size_t)n); /* n > 0: checked above */
    }
    close(fds[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            fail_msg("waitpid failed (errno %d)", errno);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The script: source the file, print every variable NUL-terminated, then have a child shell
 * print them again from its environment (so that each format is shown to export them). */
static void make_script(const char *shell, enum cli_env_format format, const char *path,
                        struct cf_buf *script)
{
    struct cf_buf vars = { 0 };

    for (size_t i = 0; i < N_HARD; i++)
        assert_int_equal(cf_buf_printf(&vars, " \"$V%zu\"", i), 0);
    assert_int_equal(cf_buf_printf(script, "%s. '%s' || exit 3\n%s",
                                   format == CLI_ENV_EXPORT ? "" : "set -a\n", path,
                                   format == CLI_ENV_EXPORT ? "" : "set +a\n"),
                     0);
    assert_int_equal(cf_buf_printf(script, "printf '%%s\\0'%s || exit 4\n", vars.data), 0);
    assert_int_equal(
        cf_buf_printf(script, "%s -c 'printf \"%%s\\0\"%s' || exit 5\n", shell, vars.data), 0);
    cf_buf_free(&vars);
}

/* Asserts that out holds every hard value NUL-terminated, twice. */
static void assert_read_back(const struct cf_buf *out, const char *shell, const char *fmt_name)
{
    size_t off = 0;

    for (size_t round = 0; round < 2; round++) {
        for (size_t i = 0; i < N_HARD; i++) {
            size_t len = strlen(hard_values[i]);
            if (off + len >= out->len || memcmp(out->data + off, hard_values[i], len) != 0 ||
                out->data[off + len] != '\0')
                fail_msg("%s, format %s, %s: V%zu does not read back as written", shell, fmt_name,
                         round == 0 ? "sourced" : "exported", i);
            off += len + 1;
        }
    }
    assert_int_equal(off, out->len);
}

/* The file being read back, removed by remove_temp() also when a test fails. */
static char temp_path[4096];

static int remove_temp(void **state)
{
    (void)state;
    if (temp_path[0] != '\0')
        (void)unlink(temp_path);
    temp_path[0] = '\0';
    return 0;
}

static void test_every_format_reads_back_exactly_in_sh_bash_and_dash(void **state)
{
    (void)state;
    static const char *const shells[] = { "/bin/sh", "/bin/bash", "/bin/dash" };
    static const enum cli_env_format formats[] = { CLI_ENV_SH, CLI_ENV_DOTENV, CLI_ENV_EXPORT };
    static const char *const format_names[] = { "env", "dotenv", "shell" };
    json_t *pairs = json_object();
    size_t ran = 0;

    for (size_t i = 0; i < N_HARD; i++) {
        char key[16];
        assert_int_equal(cf_fmt(key, sizeof(key), "v%zu", i), 0);
        json_t *s = json_string(hard_values[i]);
        assert_non_null(s); /* valid UTF-8, no NUL */
        assert_int_equal(json_object_set_new(pairs, key, s), 0);
    }
    json_t *bundle = json_pack("{s:[{s:s, s:{}, s:o}]}", "credentials", "id", "c", "metadata",
                               "credential_pairs", pairs);
    assert_non_null(bundle);
    struct cli_env env;
    char err[256];
    assert_int_equal(cli_env_from_bundle(bundle, NULL, &env, err, sizeof(err)), 0);
    assert_int_equal(env.n, N_HARD);

    for (size_t f = 0; f < sizeof(formats) / sizeof(formats[0]); f++) {
        struct cf_buf file = { 0 };
        char *path = temp_path;
        cli_env_write(&env, formats[f], &file);
        write_temp(&file, path, sizeof(temp_path));
        cf_buf_free(&file);
        for (size_t s = 0; s < sizeof(shells) / sizeof(shells[0]); s++) {
            if (access(shells[s], X_OK) != 0)
                continue; /* not installed here */
            struct cf_buf script = { 0 }, out = { 0 };
            make_script(shells[s], formats[f], path, &script);
            int status = run_shell(shells[s], script.data, &out);
            if (status != 0)
                fail_msg("%s, format %s: exit status %d", shells[s], format_names[f], status);
            assert_read_back(&out, shells[s], format_names[f]);
            cf_buf_free(&out);
            cf_buf_free(&script);
            ran++;
        }
        assert_int_equal(unlink(path), 0);
        temp_path[0] = '\0';
    }
    assert_true(ran > 0);
    cli_env_free(&env);
    json_decref(bundle);
}

int main(void)
{
    cf_json_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_name_upper_cases_and_turns_dashes_and_dots_into_underscores),
        cmocka_unit_test(test_name_keeps_other_bytes_so_that_the_name_is_invalid),
        cmocka_unit_test(test_name_that_does_not_fit_is_etoobig),
        cmocka_unit_test(test_name_valid_accepts_shell_names_only),
        cmocka_unit_test(test_bundle_gives_every_pair_in_order_with_both_prefixes),
        cmocka_unit_test(test_values_are_borrowed_from_the_bundle),
        cmocka_unit_test(test_a_disabled_credential_contributes_nothing),
        cmocka_unit_test(test_an_invalid_name_is_refused_naming_the_credential_and_key),
        cmocka_unit_test(test_a_key_with_control_bytes_is_named_without_them),
        cmocka_unit_test(test_too_long_a_name_is_refused_or_skipped),
        cmocka_unit_test(test_skip_invalid_skips_only_the_invalid_names),
        cmocka_unit_test(test_two_pairs_giving_one_name_are_refused),
        cmocka_unit_test(test_a_prefix_can_make_two_names_collide),
        cmocka_unit_test(test_a_value_that_is_not_a_string_is_refused),
        cmocka_unit_test(test_a_value_holding_a_nul_is_refused),
        cmocka_unit_test(test_bundles_of_the_wrong_shape_are_refused),
        cmocka_unit_test(test_null_metadata_and_prefix_mean_no_prefix),
        cmocka_unit_test(test_unsafe_classifies_the_loader_libc_shell_and_interpreter_names),
        cmocka_unit_test(test_unsafe_names_refuse_the_bundle_naming_each_unless_allowed),
        cmocka_unit_test(test_omit_unsafe_drops_the_unsafe_names_and_keeps_the_rest_in_order),
        cmocka_unit_test(test_withheld_are_coffers_settings_and_aws_credentials_only),
        cmocka_unit_test(test_inherited_withholds_keeps_by_name_and_honours_pristine),
        cmocka_unit_test(test_envp_drops_base_entries_the_bundle_sets),
        cmocka_unit_test(test_write_quotes_each_format_as_documented),
        cmocka_unit_test_teardown(test_every_format_reads_back_exactly_in_sh_bash_and_dash,
                                  remove_temp),
    };
    return t_run_group_tests(tests, NULL, free_kept);
}
