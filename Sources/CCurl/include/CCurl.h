#ifndef KEYADMIN_CCURL_H
#define KEYADMIN_CCURL_H

// libcurl, loaded with dlopen on first use: only `keyadmin --check` pays for it, and a machine
// without libcurl runs every other command. These functions wrap the few libcurl calls the
// check makes, so that Swift never calls a C variadic (curl_easy_setopt) and never links libcurl.

#include <stddef.h>

/// What one transfer saw, filled in by libcurl's callbacks while it runs.
typedef struct kc_capture {
    /// Bytes of body received; the transfer stops once this passes `body_limit`.
    long long body_bytes;
    long long body_limit;
    /// The first bytes of the body (NUL-terminated), for answers whose status is not enough.
    char body_head[1024];
    /// The last response's Retry-After and Date header values, NUL-terminated; empty when absent.
    char retry_after[128];
    char date[128];
    /// The last response's Location (a redirect's target, never followed), NUL-terminated.
    char location[512];
} kc_capture;

static inline const char *kc_capture_retry_after(const kc_capture *capture) { return capture->retry_after; }
static inline const char *kc_capture_date(const kc_capture *capture) { return capture->date; }
static inline const char *kc_capture_location(const kc_capture *capture) { return capture->location; }
static inline const char *kc_capture_body_head(const kc_capture *capture) { return capture->body_head; }

/// How a finished transfer ended.
typedef enum kc_outcome {
    /// A whole answer, or one cut short by the body limit (its status line and headers arrived).
    KC_ANSWERED = 0,
    KC_TIMED_OUT = 1,
    /// The certificate was not trusted, or TLS failed.
    KC_TLS_FAILED = 2,
    /// The host was not found or refused the connection.
    KC_CONNECT_FAILED = 3,
    /// The connection closed or broke before a whole answer.
    KC_CONNECTION_BROKEN = 4,
    KC_OTHER_FAILURE = 5,
} kc_outcome;

/// Loads libcurl. Returns 0, or -1 with a message in `error`. Safe to call again.
int kc_load(char *error, size_t error_size);

/// A transfer: GET `url` with `headers` (a list from kc_headers_append), at most `timeout_ms`,
/// certificates verified (against `ca_file` when not NULL), no redirects followed, http and
/// https only, the body counted into `capture` and dropped. NULL when libcurl refuses.
void *kc_transfer_new(const char *url, void *headers, long timeout_ms, const char *ca_file,
                      const char *user_agent, kc_capture *capture);
void kc_transfer_free(void *transfer);
/// The last answer's HTTP status (0 when none), and the time from start to finish in microseconds.
long kc_transfer_status(void *transfer);
long long kc_transfer_microseconds(void *transfer);

/// A header list; `kc_headers_append(NULL, ...)` starts one. NULL when out of memory.
void *kc_headers_append(void *list, const char *line);
void kc_headers_free(void *list);

/// Many transfers at once on one thread.
void *kc_multi_new(void);
void kc_multi_free(void *multi);
int kc_multi_add(void *multi, void *transfer);
int kc_multi_remove(void *multi, void *transfer);
/// Moves every transfer on as far as it can go without waiting; sets `*running` to how many
/// still run and returns libcurl's CURLMcode (0 when all is well).
int kc_multi_perform(void *multi, int *running);
/// Waits at most `timeout_ms` for any transfer to have something to do.
int kc_multi_wait(void *multi, int timeout_ms);
/// The next finished transfer and how it ended, or NULL when none has finished.
void *kc_multi_next_finished(void *multi, kc_outcome *outcome, int *curl_code);
/// libcurl's words for a result code (never contains a URL or a header).
const char *kc_error_text(int curl_code);

#endif
