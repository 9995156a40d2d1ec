#ifndef SANDCASTLE_CCURL_SHIM_H
#define SANDCASTLE_CCURL_SHIM_H

#include <curl/curl.h>

// curl_easy_setopt, curl_easy_getinfo and curl_multi_setopt are variadic and cannot be called from
// Swift. Each wrapper below fixes the type of the third argument, following the option's documented
// parameter type (https://curl.se/libcurl/c/curl_easy_setopt.html).

static inline CURLcode sc_curl_easy_setopt_long(CURL *handle, CURLoption option, long value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode sc_curl_easy_setopt_ptr(CURL *handle, CURLoption option, const void *value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode sc_curl_easy_setopt_off_t(CURL *handle, CURLoption option, curl_off_t value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode sc_curl_easy_setopt_write_function(CURL *handle, CURLoption option,
                                                          curl_write_callback value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode sc_curl_easy_getinfo_long(CURL *handle, CURLINFO info, long *value) {
    return curl_easy_getinfo(handle, info, value);
}

static inline CURLcode sc_curl_easy_getinfo_socket(CURL *handle, CURLINFO info, curl_socket_t *value) {
    return curl_easy_getinfo(handle, info, value);
}

static inline CURLcode sc_curl_easy_getinfo_ptr(CURL *handle, CURLINFO info, void **value) {
    return curl_easy_getinfo(handle, info, value);
}

static inline CURLMcode sc_curl_multi_setopt_long(CURLM *handle, CURLMoption option, long value) {
    return curl_multi_setopt(handle, option, value);
}

// CURL_WRITEFUNC_PAUSE is a macro over a cast that Swift does not import.
static inline size_t sc_curl_writefunc_pause(void) {
    return CURL_WRITEFUNC_PAUSE;
}

#endif
