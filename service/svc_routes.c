/*
 * svc_routes.c - the route table and path matching.
 *
 * Every Confidant v1 path of API.md 4.1 is listed: the ones coffer serves today have their
 * handler, the others answer 501 not_implemented after authentication (so the official client
 * gets {"result": false} instead of crashing). /healthcheck needs no authentication.
 */
#include <stdlib.h>
#include <string.h>

#include "cf_str.h"
#include "svc.h"
#include "svc_api.h"

#define AUTH SVC_ROUTE_AUTH
#define NOT_IMPL(m, p)                                                                             \
    {                                                                                              \
        m, p, svc_h_not_implemented, AUTH, "unsupported", NULL, -1                                 \
    }

static const struct svc_route routes[] = {
    { "GET", "/healthcheck", svc_h_healthcheck, SVC_ROUTE_PUBLIC, NULL, NULL, -1 },
    { "GET", "/healthcheck/ready", svc_h_ready, SVC_ROUTE_PUBLIC, NULL, NULL, -1 },
    { "GET", "/metrics", svc_h_metrics, SVC_ROUTE_PUBLIC, NULL, NULL, -1 },
    /* the web page (web/): public files, no data; it reads the API with the person's token */
    { "GET", "/ui", svc_h_ui, SVC_ROUTE_PUBLIC, NULL, NULL, -1 },
    { "GET", "/ui/", svc_h_ui, SVC_ROUTE_PUBLIC, NULL, NULL, -1 },
    { "GET", "/ui/{file}", svc_h_ui, SVC_ROUTE_PUBLIC, NULL, NULL, -1 },

    { "GET", "/v1/user/email", svc_h_user_email, AUTH, "identity.get", "identity", -1 },
    { "POST", "/v1/user/email", svc_h_user_email, AUTH, "identity.get", "identity", -1 },
    { "GET", "/v1/client_config", svc_h_client_config, AUTH, "client_config.get", NULL, -1 },

    /* Confidant v1: services and credentials */
    { "GET", "/v1/services", svc_h_services_list, AUTH, "service.list", "service", -1 },
    { "GET", "/v1/services/{id}", svc_h_service_get, AUTH, "service.get", "service", 2 },
    { "PUT", "/v1/services/{id}", svc_h_service_put, AUTH, "service.update", "service", 2 },
    { "PUT", "/v1/services/{id}/{to_revision}", svc_h_service_revert, AUTH, "service.revert",
      "service", 2 },
    { "GET", "/v1/services/{id}/{old}/{new}", svc_h_service_diff, AUTH, "service.diff", "service",
      2 },
    NOT_IMPL("GET", "/v1/archive/services"),
    { "GET", "/v1/archive/services/{id}", svc_h_service_revisions, AUTH, "service.revisions",
      "service", 3 },
    { "GET", "/v1/credentials", svc_h_credentials_list, AUTH, "credential.list", "credential", -1 },
    { "POST", "/v1/credentials", svc_h_credential_create, AUTH, "credential.create", "credential",
      -1 },
    { "GET", "/v1/credentials/{id}", svc_h_credential_get, AUTH, "credential.get", "credential",
      2 },
    { "PUT", "/v1/credentials/{id}", svc_h_credential_update, AUTH, "credential.update",
      "credential", 2 },
    { "PUT", "/v1/credentials/{id}/{to_revision}", svc_h_credential_revert, AUTH,
      "credential.revert", "credential", 2 },
    { "GET", "/v1/credentials/{id}/{old}/{new}", svc_h_credential_diff, AUTH, "credential.diff",
      "credential", 2 },
    { "GET", "/v1/credentials/{id}/services", svc_h_credential_services, AUTH,
      "credential.services", "credential", 2 },
    NOT_IMPL("POST", "/v1/credentials/{id}/archive"),
    NOT_IMPL("GET", "/v1/archive/credentials"),
    { "GET", "/v1/archive/credentials/{id}", svc_h_credential_revisions, AUTH,
      "credential.revisions", "credential", 3 },
    NOT_IMPL("GET", "/v1/value_generator"),

    /* Confidant v1: later or never */
    NOT_IMPL("GET", "/v1/login"),
    NOT_IMPL("POST", "/v1/login"),
    NOT_IMPL("GET", "/v1/saml/{action}"),
    NOT_IMPL("POST", "/v1/saml/{action}"),
    NOT_IMPL("GET", "/v1/roles"),
    NOT_IMPL("GET", "/v1/grants/{id}"),
    NOT_IMPL("PUT", "/v1/grants/{id}"),
    NOT_IMPL("GET", "/v1/blind_credentials"),
    NOT_IMPL("POST", "/v1/blind_credentials"),
    NOT_IMPL("GET", "/v1/blind_credentials/{id}"),
    NOT_IMPL("PUT", "/v1/blind_credentials/{id}"),
    NOT_IMPL("PUT", "/v1/blind_credentials/{id}/{to_revision}"),
    NOT_IMPL("GET", "/v1/blind_credentials/{id}/services"),
    NOT_IMPL("GET", "/v1/archive/blind_credentials"),
    NOT_IMPL("GET", "/v1/archive/blind_credentials/{id}"),
    NOT_IMPL("GET", "/v1/certificates/{ca}/{cn}"),
    NOT_IMPL("POST", "/v1/certificates/{ca}"),
    NOT_IMPL("GET", "/v1/cas"),
    NOT_IMPL("GET", "/v1/cas/{id}"),
    NOT_IMPL("GET", "/v1/jwks/token"),
    NOT_IMPL("GET", "/v1/jwks/token/{id}"),
    NOT_IMPL("GET", "/v1/jwks/public/{environment}"),

    /* coffer extensions (their own issues) */
    { "GET", "/v1/tokens", svc_h_tokens_list, AUTH, "token.list", "token", -1 },
    { "POST", "/v1/tokens", svc_h_token_create, AUTH, "token.create", "token", -1 },
    { "DELETE", "/v1/tokens/{id}", svc_h_token_revoke, AUTH, "token.revoke", "token", 2 },
    { "GET", "/v1/principals", svc_h_principals_list, AUTH, "principal.list", "principal", -1 },
    { "PUT", "/v1/principals/{name}", svc_h_principal_set, AUTH, "principal.set", "principal", 2 },
    { "DELETE", "/v1/principals/{name}", svc_h_principal_remove, AUTH, "principal.remove",
      "principal", 2 },
    { "GET", "/v1/audit/events", svc_h_audit_events, AUTH, "audit.query", "audit", -1 },
    { "GET", "/v1/audit/verify", svc_h_audit_verify, AUTH, "audit.verify", "audit", -1 },
};

#define NROUTES (sizeof(routes) / sizeof(routes[0]))

/* Matches the decoded segments against a pattern; *literals_out counts literal segments (a
 * literal match wins over a "{}" match). */
static bool pattern_matches(const struct svc_req *req, const char *pattern, size_t *literals_out)
{
    const char *p = pattern + 1;
    size_t i = 0, literals = 0;

    for (;; i++) {
        const char *slash = strchr(p, '/');
        size_t len = slash != NULL ? (size_t)(slash - p) : strlen(p); /* slash >= p */
        if (i >= req->nseg)
            return false;
        if (len >= 2 && p[0] == '{' && p[len - 1] == '}') {
            if (req->seg[i][0] == '\0' || !req->seg_ok[i])
                return false;
        } else {
            if (strlen(req->seg[i]) != len || strncmp(req->seg[i], p, len) != 0)
                return false;
            literals++;
        }
        if (slash == NULL)
            break;
        p = slash + 1;
    }
    *literals_out = literals;
    return i + 1 == req->nseg;
}

static void allow_add(char *allow, size_t cap, const char *method)
{
    if (strstr(allow, method) != NULL)
        return;
    size_t used = strlen(allow);
    int r = cf_fmt(allow + used, cap - used, "%s%s", used > 0 ? ", " : "", method);
    (void)r; /* the list of a path's methods always fits; a cut list is still a valid header */
}

/* HEAD is served by the public GET routes (health checks); /v1/ routes take no HEAD. */
static bool method_matches(const struct svc_route *rt, const char *method)
{
    if (strcmp(rt->method, method) == 0)
        return true;
    return strcmp(method, "HEAD") == 0 && strcmp(rt->method, "GET") == 0 &&
           (rt->flags & SVC_ROUTE_AUTH) == 0;
}

int svc_route_match(struct svc_req *req, char *allow, size_t allowcap)
{
    const struct svc_route *best = NULL;
    size_t best_literals = 0;
    bool path_known = false;

    allow[0] = '\0';
    for (size_t i = 0; i < NROUTES; i++) {
        size_t literals;
        if (!pattern_matches(req, routes[i].pattern, &literals))
            continue;
        path_known = true;
        allow_add(allow, allowcap, routes[i].method);
        if (!method_matches(&routes[i], req->method))
            continue;
        if (best == NULL || literals > best_literals) {
            best = &routes[i];
            best_literals = literals;
        }
    }
    if (best != NULL) {
        req->route = best;
        return 0;
    }
    return path_known ? CF_EDENIED : CF_ENOTFOUND;
}

size_t svc_route_count(void)
{
    return NROUTES;
}

size_t svc_route_index(const struct svc_route *rt)
{
    return (size_t)(rt - routes); /* rt points into routes */
}

const struct svc_route *svc_route_at(size_t i)
{
    return i < NROUTES ? &routes[i] : NULL;
}

const char *svc_route_action(const struct svc_req *req)
{
    const struct svc_route *rt = req->route;
    bool metadata_only = false;

    if (rt == NULL || rt->action == NULL)
        return "unsupported";
    if (strcmp(rt->action, "service.get") != 0 && strcmp(rt->action, "credential.get") != 0)
        return rt->action;
    char *v = svc_query(req, "metadata_only");
    metadata_only =
        v != NULL && (strcmp(v, "true") == 0 || strcmp(v, "True") == 0 || strcmp(v, "1") == 0);
    free(v);
    if (!metadata_only)
        return rt->action;
    return strcmp(rt->action, "service.get") == 0 ? "service.get_metadata"
                                                  : "credential.get_metadata";
}

const char *svc_audit_resource_id(struct svc_req *req, const char *explicit_id)
{
    const struct svc_route *rt = req->route;
    const char *id = explicit_id;

    if (id == NULL && rt != NULL && rt->id_segment >= 0 && (size_t)rt->id_segment < req->nseg)
        id = req->seg[rt->id_segment];
    if (id == NULL)
        return NULL;
    cf_utf8_sanitize(id, strlen(id), SVC_AUDIT_ID_MAX, req->audit_rid, sizeof(req->audit_rid));
    return req->audit_rid;
}
