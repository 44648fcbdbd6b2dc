/*
 * svc_lists.h - paged lists and revision lists, shared by credentials and services.
 */
#ifndef SVC_LISTS_H
#define SVC_LISTS_H

#include <stdbool.h>

#include <jansson.h>

#include "svc_api.h"

/* How one kind of resource is listed. */
struct svc_kind {
    const char *name;        /* "credential", "service": for messages */
    const char *list_member; /* the list's member: "credentials", "services" */
    bool (*id_valid)(const char *id);
    int (*list)(struct db_conn *c, const char *after_lower, const char *after_id, int64_t limit,
                json_t **rows_out);
    int (*revisions)(struct db_conn *c, const char *id, json_t **rows_out);
    json_t *(*item)(const json_t *row, bool revision_id); /* a list or revision item */
};

extern const struct svc_kind svc_credential_kind;
extern const struct svc_kind svc_service_kind;

/* GET of a paged list (API.md 4.2, 4.3): limit and page, next_page. */
int svc_list_handler(struct svc_req *req, const struct svc_kind *k);

/* GET /v1/archive/<kind>s/{id}: every revision ascending; 404 when there is none. */
int svc_revisions_handler(struct svc_req *req, const struct svc_kind *k);

#endif
