// SPDX-License-Identifier: BSD-2-Clause
#include "transport/http_tls.h"
#include "base/strbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int http_tls_priorities_check(const char *priorities, char *err, size_t errlen)
{
	gnutls_priority_t p;
	const char *where = NULL;
	int r = gnutls_priority_init(&p, priorities, &where);

	if (r < 0) {
		snprintf(err, errlen, "--tls-priorities '%s': %s%s%.40s", priorities,
			 gnutls_strerror(r), where ? " at " : "", where ? where : "");
		return -EINVAL;
	}
	gnutls_priority_deinit(p);
	return 0;
}

/* Reads a PEM file into a NUL-terminated string. Returns NULL with a reason in err. */
char *http_tls_read_pem(const char *flag, const char *path, char *err, size_t errlen)
{
	struct strbuf sb = STRBUF_INIT;
	char buf[4096];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0) {
		snprintf(err, errlen, "%s %s: %s", flag, path, strerror(errno));
		return NULL;
	}
	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || sb.len + (size_t)n > HTTP_MAX_PEM_BYTES) {
			snprintf(err, errlen, "%s %s: %s", flag, path,
				 n < 0 ? strerror(errno) : "larger than 1 MiB, not a PEM file");
			close(fd);
			strbuf_reset(&sb);
			return NULL;
		}
		strbuf_append(&sb, buf, (size_t)n);
	}
	close(fd);
	if (strbuf_failed(&sb) || !sb.len || !strstr(sb.data, "-----BEGIN ")) {
		snprintf(err, errlen, "%s %s: %s", flag, path,
			 strbuf_failed(&sb) ? "out of memory" : "not a PEM file");
		strbuf_reset(&sb);
		return NULL;
	}
	return strbuf_steal(&sb, NULL);
}

/* Checks with GnuTLS, the library libmicrohttpd serves HTTPS with, that the certificate parses
 * and the key goes with it: a clear reason at start, and libmicrohttpd never meets a file
 * GnuTLS 3.7 leaks memory over. Returns 0 or -EINVAL with a reason in err. */
int http_tls_check_pair(const struct http_server_opts *o, const char *cert, const char *key,
			char *err, size_t errlen)
{
	gnutls_datum_t c = { (unsigned char *)cert, (unsigned)strlen(cert) };
	gnutls_datum_t k = { (unsigned char *)key, (unsigned)strlen(key) };
	gnutls_certificate_credentials_t cred;
	gnutls_x509_crt_t crt;
	int r;

	if (gnutls_x509_crt_init(&crt) < 0) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	r = gnutls_x509_crt_import(crt, &c, GNUTLS_X509_FMT_PEM);
	gnutls_x509_crt_deinit(crt);
	if (r < 0) {
		snprintf(err, errlen, "--tls-cert %s: not a usable certificate: %s",
			 o->tls_cert_file, gnutls_strerror(r));
		return -EINVAL;
	}
	if (gnutls_certificate_allocate_credentials(&cred) < 0) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	r = gnutls_certificate_set_x509_key_mem(cred, &c, &k, GNUTLS_X509_FMT_PEM);
	gnutls_certificate_free_credentials(cred);
	if (r < 0) {
		snprintf(err, errlen, "--tls-key %s with --tls-cert %s: %s", o->tls_key_file,
			 o->tls_cert_file, gnutls_strerror(r));
		return -EINVAL;
	}
	return 0;
}
