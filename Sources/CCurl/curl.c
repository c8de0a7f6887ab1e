#include "CCurl.h"

#include <curl/curl.h>
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

// The functions the check uses, looked up once. curl_easy_setopt and curl_easy_getinfo are
// variadic: they are called through pointers of their declared types, with the argument types
// libcurl documents for each option.
static struct {
    void *library;
    CURLcode (*global_init)(long);
    CURL *(*easy_init)(void);
    void (*easy_cleanup)(CURL *);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    const char *(*easy_strerror)(CURLcode);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
    CURLM *(*multi_init)(void);
    CURLMcode (*multi_cleanup)(CURLM *);
    CURLMcode (*multi_add_handle)(CURLM *, CURL *);
    CURLMcode (*multi_remove_handle)(CURLM *, CURL *);
    CURLMcode (*multi_perform)(CURLM *, int *);
    CURLMcode (*multi_wait)(CURLM *, struct curl_waitfd *, unsigned int, int, int *);
    CURLMsg *(*multi_info_read)(CURLM *, int *);
} curl;

static int look_up(void **slot, const char *name, char *error, size_t error_size) {
    *slot = dlsym(curl.library, name);
    if (*slot == NULL) {
        snprintf(error, error_size, "the libcurl found has no %s (7.61 or later is needed)", name);
        return -1;
    }
    return 0;
}

int kc_load(char *error, size_t error_size) {
    if (curl.multi_wait != NULL) return 0;
    // libcurl.so.4 is the runtime library's name on Linux (any TLS backend: the ABI is one);
    // libcurl.so comes with the -dev package; the last is macOS's.
    static const char *const names[] = {"libcurl.so.4", "libcurl.so", "libcurl-gnutls.so.4", "libcurl.4.dylib"};
    for (size_t i = 0; i < sizeof names / sizeof names[0] && curl.library == NULL; i++) {
        curl.library = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    }
    if (curl.library == NULL) {
        snprintf(error, error_size, "libcurl is not installed");
        return -1;
    }
    if (look_up((void **)&curl.global_init, "curl_global_init", error, error_size) ||
        look_up((void **)&curl.easy_init, "curl_easy_init", error, error_size) ||
        look_up((void **)&curl.easy_cleanup, "curl_easy_cleanup", error, error_size) ||
        look_up((void **)&curl.easy_setopt, "curl_easy_setopt", error, error_size) ||
        look_up((void **)&curl.easy_getinfo, "curl_easy_getinfo", error, error_size) ||
        look_up((void **)&curl.easy_strerror, "curl_easy_strerror", error, error_size) ||
        look_up((void **)&curl.slist_append, "curl_slist_append", error, error_size) ||
        look_up((void **)&curl.slist_free_all, "curl_slist_free_all", error, error_size) ||
        look_up((void **)&curl.multi_init, "curl_multi_init", error, error_size) ||
        look_up((void **)&curl.multi_cleanup, "curl_multi_cleanup", error, error_size) ||
        look_up((void **)&curl.multi_add_handle, "curl_multi_add_handle", error, error_size) ||
        look_up((void **)&curl.multi_remove_handle, "curl_multi_remove_handle", error, error_size) ||
        look_up((void **)&curl.multi_perform, "curl_multi_perform", error, error_size) ||
        look_up((void **)&curl.multi_info_read, "curl_multi_info_read", error, error_size) ||
        // Last: kc_load's "already loaded" test reads it.
        look_up((void **)&curl.multi_wait, "curl_multi_wait", error, error_size)) {
        curl.multi_wait = NULL;
        return -1;
    }
    if (curl.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        curl.multi_wait = NULL;
        snprintf(error, error_size, "libcurl could not start (curl_global_init failed)");
        return -1;
    }
    return 0;
}

static size_t count_body(char *data, size_t size, size_t count, void *user) {
    kc_capture *capture = user;
    size_t bytes = size * count;
    long long before = capture->body_bytes;
    if (before < (long long)sizeof capture->body_head - 1) {
        size_t room = sizeof capture->body_head - 1 - (size_t)before;
        size_t copied = bytes < room ? bytes : room;
        memcpy(capture->body_head + before, data, copied);
        capture->body_head[before + (long long)copied] = '\0';
    }
    capture->body_bytes += (long long)bytes;
    // Returning less than was given stops the transfer (CURLE_WRITE_ERROR): a huge or endless
    // body costs at most the limit.
    return capture->body_bytes > capture->body_limit ? 0 : bytes;
}

static void keep_value(char *destination, size_t size, const char *value, size_t length) {
    while (length > 0 && (*value == ' ' || *value == '\t')) { value++; length--; }
    while (length > 0 && (value[length - 1] == '\r' || value[length - 1] == '\n' ||
                          value[length - 1] == ' ' || value[length - 1] == '\t')) { length--; }
    if (length >= size) length = size - 1;
    memcpy(destination, value, length);
    destination[length] = '\0';
}

static size_t read_header(char *line, size_t size, size_t count, void *user) {
    kc_capture *capture = user;
    size_t length = size * count;
    // A status line starts another response (after a 100 Continue): forget the last one's headers.
    if (length >= 5 && strncmp(line, "HTTP/", 5) == 0) {
        capture->retry_after[0] = '\0';
        capture->date[0] = '\0';
        capture->location[0] = '\0';
    } else if (length > 9 && strncasecmp(line, "location:", 9) == 0) {
        keep_value(capture->location, sizeof capture->location, line + 9, length - 9);
    } else if (length > 12 && strncasecmp(line, "retry-after:", 12) == 0) {
        keep_value(capture->retry_after, sizeof capture->retry_after, line + 12, length - 12);
    } else if (length > 5 && strncasecmp(line, "date:", 5) == 0) {
        keep_value(capture->date, sizeof capture->date, line + 5, length - 5);
    }
    return length;
}

// CURLOPT_PROTOCOLS is deprecated since libcurl 7.85 in favour of CURLOPT_PROTOCOLS_STR, which
// older libcurls (7.81 on Ubuntu 22.04) do not have: the old option works on both, so its
// deprecation warning is silenced here and nowhere else.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
void *kc_transfer_new(const char *url, void *headers, long timeout_ms, const char *ca_file,
                      const char *user_agent, kc_capture *capture) {
    CURL *easy = curl.easy_init();
    if (easy == NULL) return NULL;
    CURLcode failed = CURLE_OK;
#define SET(option, value) if (failed == CURLE_OK) failed = curl.easy_setopt(easy, option, value)
    SET(CURLOPT_URL, url);
    SET(CURLOPT_HTTPHEADER, (struct curl_slist *)headers);
    SET(CURLOPT_USERAGENT, user_agent);
    SET(CURLOPT_HTTPGET, 1L);
    // Signals are the program's (Ctrl-C); libcurl must not use SIGALRM for its timeouts.
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_TIMEOUT_MS, timeout_ms);
    SET(CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    // No redirect is followed: the key is in a header, and another host must never see it.
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
    SET(CURLOPT_SSL_VERIFYPEER, 1L);
    SET(CURLOPT_SSL_VERIFYHOST, 2L);
    if (ca_file != NULL) SET(CURLOPT_CAINFO, ca_file);
    SET(CURLOPT_WRITEFUNCTION, count_body);
    SET(CURLOPT_WRITEDATA, capture);
    SET(CURLOPT_HEADERFUNCTION, read_header);
    SET(CURLOPT_HEADERDATA, capture);
#undef SET
    if (failed != CURLE_OK) {
        curl.easy_cleanup(easy);
        return NULL;
    }
    return easy;
}
#pragma GCC diagnostic pop

void kc_transfer_free(void *transfer) {
    if (transfer != NULL) curl.easy_cleanup(transfer);
}

long kc_transfer_status(void *transfer) {
    long status = 0;
    if (curl.easy_getinfo(transfer, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK) return 0;
    return status;
}

long long kc_transfer_microseconds(void *transfer) {
    curl_off_t microseconds = 0;
    if (curl.easy_getinfo(transfer, CURLINFO_TOTAL_TIME_T, &microseconds) != CURLE_OK) return 0;
    return (long long)microseconds;
}

void *kc_headers_append(void *list, const char *line) {
    return curl.slist_append(list, line);
}

void kc_headers_free(void *list) {
    if (list != NULL) curl.slist_free_all(list);
}

void *kc_multi_new(void) { return curl.multi_init(); }

void kc_multi_free(void *multi) {
    if (multi != NULL) curl.multi_cleanup(multi);
}

int kc_multi_add(void *multi, void *transfer) { return curl.multi_add_handle(multi, transfer); }

int kc_multi_remove(void *multi, void *transfer) { return curl.multi_remove_handle(multi, transfer); }

int kc_multi_perform(void *multi, int *running) { return curl.multi_perform(multi, running); }

int kc_multi_wait(void *multi, int timeout_ms) {
    int ready = 0;
    return curl.multi_wait(multi, NULL, 0, timeout_ms, &ready);
}

static kc_outcome classify(CURLcode code, long status) {
    switch (code) {
    case CURLE_OK: return KC_ANSWERED;
    // The body limit (count_body) stops a transfer whose status is known.
    case CURLE_WRITE_ERROR: return status > 0 ? KC_ANSWERED : KC_OTHER_FAILURE;
    case CURLE_OPERATION_TIMEDOUT: return KC_TIMED_OUT;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
        return KC_TLS_FAILED;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
        return KC_CONNECT_FAILED;
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_WEIRD_SERVER_REPLY:
        return KC_CONNECTION_BROKEN;
    default: return KC_OTHER_FAILURE;
    }
}

void *kc_multi_next_finished(void *multi, kc_outcome *outcome, int *curl_code) {
    int queued = 0;
    CURLMsg *message;
    while ((message = curl.multi_info_read(multi, &queued)) != NULL) {
        if (message->msg != CURLMSG_DONE) continue;
        CURL *easy = message->easy_handle;
        *curl_code = (int)message->data.result;
        *outcome = classify(message->data.result, kc_transfer_status(easy));
        return easy;
    }
    return NULL;
}

const char *kc_error_text(int curl_code) {
    return curl.easy_strerror((CURLcode)curl_code);
}
