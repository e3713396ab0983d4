/* SPDX-License-Identifier: BSD-2-Clause */
/* Inside the kube parser (kube_text.c, kube_owner.c, kube_pod.c, kube_objects.c): the
 * character classes a kept string must be of, and the JSON pieces several objects share. */
#ifndef BPFDIAG_KUBE_TEXT_H
#define BPFDIAG_KUBE_TEXT_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

#include "kube/kube_parse.h"

enum kube_charset {
	KUBE_CS_DNS, /* lowercase alphanumerics, '-', '.': object names, namespaces */
	KUBE_CS_LABEL, /* alphanumerics, '-', '_', '.': label values, Helm release names */
	KUBE_CS_KEY, /* KUBE_CS_LABEL plus '/': label keys */
	KUBE_CS_KIND, /* alphanumerics: kinds */
	KUBE_CS_UID, /* hex digits and '-' */
	KUBE_CS_PRINT, /* printable ASCII */
};

bool kube_char_ok(char c, enum kube_charset cs);
/* Copies s into dst[size] when it is non-empty, fits and is of charset cs. */
bool kube_text_copy(char *dst, size_t size, const char *s, enum kube_charset cs);
#define KUBE_COPY(dst, s, cs) kube_text_copy((dst), sizeof(dst), (s), (cs))

/* The controller ownerReference of an object's metadata; all "" when there is none. */
void kube_controller_parse(json_object *meta, struct kube_ref *ret);

#endif
