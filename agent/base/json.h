/* SPDX-License-Identifier: BSD-2-Clause */
/* The one set of typed JSON getters (json-c) for documents from outside: every getter checks the
 * type, so a missing, null or mistyped field reads as absent, never as a crash or a coercion. */
#ifndef BPFDIAG_JSON_H
#define BPFDIAG_JSON_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

/* o[k], or NULL when o is not an object, k is absent or its value is null. */
json_object *json_get(json_object *o, const char *k);
/* o[k] when it is an object (json_get_obj) or an array (json_get_arr), else NULL. */
json_object *json_get_obj(json_object *o, const char *k);
json_object *json_get_arr(json_object *o, const char *k);
/* The string value v without embedded NULs, or NULL. */
const char *json_str_of(json_object *v);
/* o[k] as a string without embedded NULs, or NULL. */
const char *json_get_str(json_object *o, const char *k);
/* As json_get_str, "" when absent. */
const char *json_get_str_or_empty(json_object *o, const char *k);
/* o[k] is the boolean true. */
bool json_get_true(json_object *o, const char *k);
/* o[k] as an integer: true and *ret set, or false when absent or not an integer. */
bool json_get_int(json_object *o, const char *k, int64_t *ret);
/* o[k] as a finite number (integer or double), or 0. */
double json_get_num(json_object *o, const char *k);

#endif
