// SPDX-License-Identifier: BSD-2-Clause
#include "base/json.h"

#include <math.h>
#include <string.h>

json_object *json_get(json_object *o, const char *k)
{
	json_object *v;

	if (!o || !json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, k, &v))
		return NULL;
	return v; /* NULL for a JSON null */
}

json_object *json_get_obj(json_object *o, const char *k)
{
	json_object *v = json_get(o, k);

	return v && json_object_is_type(v, json_type_object) ? v : NULL;
}

json_object *json_get_arr(json_object *o, const char *k)
{
	json_object *v = json_get(o, k);

	return v && json_object_is_type(v, json_type_array) ? v : NULL;
}

const char *json_str_of(json_object *v)
{
	const char *s;

	if (!v || !json_object_is_type(v, json_type_string))
		return NULL;
	s = json_object_get_string(v);
	return strlen(s) == (size_t)json_object_get_string_len(v) ? s : NULL;
}

const char *json_get_str(json_object *o, const char *k)
{
	return json_str_of(json_get(o, k));
}

const char *json_get_str_or_empty(json_object *o, const char *k)
{
	const char *s = json_get_str(o, k);

	return s ? s : "";
}

bool json_get_true(json_object *o, const char *k)
{
	json_object *v = json_get(o, k);

	return v && json_object_is_type(v, json_type_boolean) && json_object_get_boolean(v);
}

bool json_get_int(json_object *o, const char *k, int64_t *ret)
{
	json_object *v = json_get(o, k);

	if (!v || !json_object_is_type(v, json_type_int))
		return false;
	*ret = json_object_get_int64(v);
	return true;
}

double json_get_num(json_object *o, const char *k)
{
	json_object *v = json_get(o, k);
	double d;

	if (!v ||
	    (!json_object_is_type(v, json_type_double) && !json_object_is_type(v, json_type_int)))
		return 0;
	d = json_object_get_double(v);
	return isfinite(d) ? d : 0;
}
