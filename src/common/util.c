#include "common/util.h"
#include "common/log.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int parse_size(const char *s, uint64_t default_unit, uint64_t *out)
{
	char *end;
	uint64_t unit = default_unit;
	long double v;

	if (!s || !*s || !(isdigit((unsigned char)*s) || *s == '.') || strpbrk(s, "xXpPeE"))
		return -1; /* strtold would also take hex floats and exponents */
	errno = 0;
	v = strtold(s, &end);
	if (errno || end == s || v < 0)
		return -1;
	switch (toupper((unsigned char)*end)) {
	case 'K': unit = KiB; end++; break;
	case 'M': unit = MiB; end++; break;
	case 'G': unit = GiB; end++; break;
	case 'T': unit = 1024 * GiB; end++; break;
	case 'B': unit = 1; break;
	case '\0': break;
	default: return -1;
	}
	if (unit != default_unit || toupper((unsigned char)*end) == 'B') {
		if (toupper((unsigned char)end[0]) == 'I' && toupper((unsigned char)end[1]) == 'B')
			end += 2;
		else if (toupper((unsigned char)end[0]) == 'B')
			end++;
	}
	if (*end)
		return -1;
	v *= unit;
	if (v > (long double)UINT64_MAX || v != (long double)(uint64_t)v)
		return -1;
	*out = (uint64_t)v;
	return 0;
}

static void *check_alloc(void *p, size_t n)
{
	if (!p && n)
		die("out of memory allocating %zu bytes", n);
	return p;
}

void *xmalloc(size_t n)
{
	return check_alloc(malloc(n), n);
}

void *xcalloc(size_t n, size_t size)
{
	return check_alloc(calloc(n, size), n * size);
}

void *xrealloc(void *p, size_t n)
{
	return check_alloc(realloc(p, n), n);
}

char *xstrdup(const char *s)
{
	return check_alloc(strdup(s), strlen(s) + 1);
}

void *read_file(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char *buf = NULL;
	size_t done = 0;

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		if (!errno || S_ISDIR(st.st_mode))
			errno = EISDIR;
		goto fail;
	}
	buf = malloc(st.st_size ? st.st_size : 1);
	if (!buf)
		goto fail;
	while (done < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + done, st.st_size - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			goto fail;
		}
		done += n;
	}
	close(fd);
	*len = done;
	return buf;
fail: {
	int saved = errno;
	free(buf);
	close(fd);
	errno = saved;
	return NULL;
}
}

uint64_t clock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= n;
	}
	return 0;
}
