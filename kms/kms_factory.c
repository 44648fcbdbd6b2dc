/* kms_factory.c - builds the configured backend (kept apart so that code using one backend
 * links without the other). */
#include <string.h>

#include "kms.h"
#include "kms_aws.h"
#include "kms_local.h"

int kms_client_new(const struct cf_config *cfg, struct kms_client **out, char *err, size_t errcap)
{
    void *impl = NULL;
    int r;

    *out = NULL;
    if (strcmp(cfg->kms_backend, "local") == 0) {
        r = kms_local_open(cfg->local_key_file, (struct kms_local **)&impl, err, errcap);
        if (r == 0)
            *out = kms_client_wrap(&kms_local_ops, impl);
        return r;
    }
    struct kms_aws_config ac;
    kms_aws_config_from(cfg, &ac);
    r = kms_aws_new(&ac, &impl, err, errcap);
    if (r == 0)
        *out = kms_client_wrap(&kms_aws_ops, impl);
    return r;
}
