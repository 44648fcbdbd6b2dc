/* cf_file.c - reading secret files: regular, private, bounded, into cleansed memory. */
#include "cf_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cf_str.h"

int cf_file_read_secret(const char *path, size_t max, unsigned forbidden, const char *what,
                        struct cf_secret *out, char *err, size_t errcap)
{
    struct stat st;
    size_t used = 0;
    ssize_t n;

    *out = (struct cf_secret){ 0 };
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return cf_config_error(err, errcap, "cannot open %s %s (errno %d)", what, path, errno);
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return cf_config_error(err, errcap, "%s %s is not a regular file", what, path);
    }
    if ((st.st_mode & forbidden) != 0) {
        close(fd);
        return cf_config_error(err, errcap, "%s %s may be read by %s (mode %03o): chmod %s", what,
                               path, (forbidden & 070) != 0 ? "group or others" : "others",
                               (unsigned)(st.st_mode & 0777),
                               (forbidden & 070) != 0 ? "600" : "640");
    }
    if (st.st_size <= 0 || (size_t)st.st_size > max || max > CF_SECRET_MAX) {
        close(fd);
        return cf_config_error(err, errcap, "%s %s is empty or too large", what, path);
    }
    if (cf_secret_alloc(out, (size_t)st.st_size) != 0) { /* size checked above */
        close(fd);
        return cf_config_error(err, errcap, "%s %s is too large", what, path);
    }
    while (used < out->len && (n = read(fd, out->data + used, out->len - used)) > 0)
        used += (size_t)n; /* n > 0 */
    close(fd);
    out->len = used;
    return 0;
}
