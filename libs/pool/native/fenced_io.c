/*
 * fenced_io: a positional write that checks a deadline in the thread that issues it, right
 * before each pwrite (docs/cluster.md "Fencing"). The deadline lives in an 8-byte cell shared
 * with JavaScript (a Buffer the caller keeps alive): nanoseconds of CLOCK_MONOTONIC, the clock
 * of process.hrtime.bigint(). A write whose thread starts after the deadline writes nothing.
 *
 * Why in C: Node's fs writes wait in libuv's thread pool queue between the JavaScript check and
 * the pwrite. A process stopped (SIGSTOP, a frozen VM) in between runs them when it resumes,
 * after a new owner took the filesystem over. Here the check and the system call are a few
 * instructions apart in one thread, whenever the thread gets to run.
 *
 * fencedWrite(fd, buffer, position, cell) -> Promise<number>: 0 once every byte is written,
 * -1 when the deadline had passed (nothing more was written), else a positive errno.
 *
 * readCrcs(fd, buffer, position, crcs) -> Promise<number>: reads buffer.length bytes (a multiple
 * of 4096) and stores the CRC-32C of each 4096-byte block in crcs (a Buffer of 4 bytes per block,
 * native byte order, read as a Uint32Array): the checksums the engine verifies, computed in the
 * pool thread instead of on the event loop. 0 when done, -2 at end of file before the last byte,
 * else a positive errno. CRC-32C (Castagnoli, initial value 0) as @node-rs/crc32's crc32c: with
 * the SSE4.2 instruction where the CPU has it, else a table.
 *
 * readCrcsCached(fd, buffer, position, crcs) -> number: the same read, done now on the calling
 * thread, but only from the page cache: preadv2 with RWF_NOWAIT, which returns at once rather
 * than wait for the disk (or a lock). 0 when every byte came from the cache (checksums stored),
 * 1 when some did not (nothing to use: the caller reads through the pool), 3 when the kernel or
 * filesystem does not offer RWF_NOWAIT, -2 at end of file, else a positive errno. For small reads:
 * a thread-pool round trip costs the event loop more than copying a few cached blocks.
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <unistd.h>
#include <sys/uio.h>

static int64_t monotonic_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + (int64_t)ts.tv_nsec;
}

/* ---- CRC-32C ---------------------------------------------------------------------------- */

static uint32_t crc_table[256];

static void crc_table_init(void) {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    crc_table[i] = c;
  }
}

static uint32_t crc32c_sw(const uint8_t *p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  while (n--) c = crc_table[(c ^ *p++) & 0xFF] ^ (c >> 8);
  return ~c;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc32c_hw(const uint8_t *p, size_t n) {
  uint64_t c = 0xFFFFFFFFu;
  while (n >= 8) {
    uint64_t v;
    memcpy(&v, p, 8);
    c = __builtin_ia32_crc32di(c, v);
    p += 8;
    n -= 8;
  }
  uint32_t c32 = (uint32_t)c;
  while (n--) c32 = __builtin_ia32_crc32qi(c32, *p++);
  return ~c32;
}
static int have_hw_crc;
#endif

static uint32_t crc32c(const uint8_t *p, size_t n) {
#if defined(__x86_64__)
  if (have_hw_crc) return crc32c_hw(p, n);
#endif
  return crc32c_sw(p, n);
}

/* ---- Requests ----------------------------------------------------------------------------- */

#define BLOCK 4096

#if defined(__x86_64__)
/*
 * The checksums of three whole blocks at once. The crc32 instruction takes three cycles to give
 * its result but can start one every cycle, so one block's chain leaves the unit two thirds
 * idle; three independent chains keep it busy (each block has its own checksum, so nothing needs
 * combining afterwards). About three times the speed of one block at a time.
 */
__attribute__((target("sse4.2"))) static void crc32c_hw_x3(const uint8_t *a, const uint8_t *b, const uint8_t *c, uint32_t *out) {
  uint64_t x = 0xFFFFFFFFu, y = 0xFFFFFFFFu, z = 0xFFFFFFFFu;
  for (size_t i = 0; i < BLOCK; i += 8) {
    uint64_t u, v, w;
    memcpy(&u, a + i, 8);
    memcpy(&v, b + i, 8);
    memcpy(&w, c + i, 8);
    x = __builtin_ia32_crc32di(x, u);
    y = __builtin_ia32_crc32di(y, v);
    z = __builtin_ia32_crc32di(z, w);
  }
  out[0] = ~(uint32_t)x;
  out[1] = ~(uint32_t)y;
  out[2] = ~(uint32_t)z;
}
#endif

/* crcs[i] = CRC-32C of block i of data, for blocks whole blocks. */
static void block_crcs(const uint8_t *data, size_t blocks, uint32_t *crcs) {
  size_t i = 0;
#if defined(__x86_64__)
  if (have_hw_crc)
    for (; i + 3 <= blocks; i += 3) crc32c_hw_x3(data + i * BLOCK, data + (i + 1) * BLOCK, data + (i + 2) * BLOCK, crcs + i);
#endif
  for (; i < blocks; i++) crcs[i] = crc32c(data + i * BLOCK, BLOCK);
}

/* One positional request on a pool thread: a fenced write or a read with block checksums. */
typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref buffer_ref;
  napi_ref extra_ref; /* the fence cell (write) or the checksum array (read) */
  int fd;
  uint8_t *data;
  size_t length;
  int64_t position;
  void *extra;
  int status;
} io_req;

/* Runs on a thread of libuv's pool. */
static void write_execute(napi_env env, void *data) {
  (void)env;
  io_req *r = data;
  const int64_t *deadline = r->extra;
  size_t done = 0;
  while (done < r->length) {
    if (monotonic_ns() >= __atomic_load_n(deadline, __ATOMIC_SEQ_CST)) {
      r->status = -1;
      return;
    }
    ssize_t n = pwrite(r->fd, r->data + done, r->length - done, (off_t)(r->position + (int64_t)done));
    if (n < 0) {
      if (errno == EINTR) continue;
      r->status = errno;
      return;
    }
    if (n == 0) {
      r->status = EIO;
      return;
    }
    done += (size_t)n;
  }
  r->status = 0;
}

/* Runs on a thread of libuv's pool. */
static void read_execute(napi_env env, void *data) {
  (void)env;
  io_req *r = data;
  uint32_t *crcs = r->extra;
  size_t done = 0;
  while (done < r->length) {
    ssize_t n = pread(r->fd, r->data + done, r->length - done, (off_t)(r->position + (int64_t)done));
    if (n < 0) {
      if (errno == EINTR) continue;
      r->status = errno;
      return;
    }
    if (n == 0) {
      r->status = -2;
      return;
    }
    done += (size_t)n;
  }
  block_crcs(r->data, r->length / BLOCK, crcs);
  r->status = 0;
}

/* preadv2 with RWF_NOWAIT, the whole buffer or nothing usable; see readCrcsCached above. */
static int read_cached(int fd, uint8_t *data, size_t length, int64_t position, uint32_t *crcs) {
#ifdef RWF_NOWAIT
  size_t done = 0;
  while (done < length) {
    struct iovec iov = {data + done, length - done};
    ssize_t n = preadv2(fd, &iov, 1, (off_t)(position + (int64_t)done), RWF_NOWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return 1;
      if (errno == EOPNOTSUPP || errno == ENOSYS || errno == EINVAL) return 3;
      return errno;
    }
    if (n == 0) return -2;
    done += (size_t)n;
  }
  block_crcs(data, length / BLOCK, crcs);
  return 0;
#else
  (void)fd, (void)data, (void)length, (void)position, (void)crcs;
  return 3;
#endif
}

static void complete(napi_env env, napi_status status, void *data) {
  io_req *r = data;
  napi_value result;
  napi_create_int32(env, status == napi_ok ? r->status : EIO, &result);
  napi_resolve_deferred(env, r->deferred, result);
  napi_delete_reference(env, r->buffer_ref);
  napi_delete_reference(env, r->extra_ref);
  napi_delete_async_work(env, r->work);
  free(r);
}

/* A Buffer's bytes and length; false (a TypeError pending) when `v` is not a Buffer. An empty
 * Buffer may have no bytes pointer at all. */
static bool buffer_bytes(napi_env env, napi_value v, void **bytes, size_t *length, const char *what) {
  bool is_buffer = false;
  *bytes = NULL;
  if (napi_is_buffer(env, v, &is_buffer) != napi_ok || !is_buffer || napi_get_buffer_info(env, v, bytes, length) != napi_ok) {
    napi_throw_type_error(env, NULL, what);
    return false;
  }
  return true;
}

/*
 * Shared by fencedWrite and readCrcs: (fd, buffer, position, extra). `extra_length(length)` is
 * the size extra must have for a buffer of `length` bytes (0 refuses the length), and `align`
 * its alignment. Queues `execute` and returns its promise, or NULL with an exception pending.
 */
static napi_value queue_io(napi_env env, napi_callback_info info, const char *usage, napi_async_execute_callback execute, size_t (*extra_length)(size_t),
                           uintptr_t align, const char *extra_error) {
  size_t argc = 4;
  napi_value argv[4];
  napi_value promise = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 4) {
    napi_throw_type_error(env, NULL, usage);
    return NULL;
  }
  io_req *r = calloc(1, sizeof *r);
  if (r == NULL) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  size_t extra_size = 0;
  napi_value name;
  if (napi_get_value_int32(env, argv[0], &r->fd) != napi_ok || napi_get_value_int64(env, argv[2], &r->position) != napi_ok) {
    napi_throw_type_error(env, NULL, usage);
    goto fail;
  }
  void *data;
  if (!buffer_bytes(env, argv[1], &data, &r->length, usage)) goto fail;
  r->data = data;
  if (!buffer_bytes(env, argv[3], &r->extra, &extra_size, extra_error)) goto fail;
  size_t want = extra_length(r->length);
  if (want == 0 || extra_size != want || ((uintptr_t)r->extra & (align - 1)) != 0) {
    napi_throw_type_error(env, NULL, extra_error);
    goto fail;
  }
  if (r->fd < 0 || r->position < 0) {
    napi_throw_range_error(env, NULL, "fd and position must not be negative");
    goto fail;
  }
  if (napi_create_reference(env, argv[1], 1, &r->buffer_ref) != napi_ok || napi_create_reference(env, argv[3], 1, &r->extra_ref) != napi_ok ||
      napi_create_string_utf8(env, usage, NAPI_AUTO_LENGTH, &name) != napi_ok || napi_create_promise(env, &r->deferred, &promise) != napi_ok ||
      napi_create_async_work(env, NULL, name, execute, complete, r, &r->work) != napi_ok || napi_queue_async_work(env, r->work) != napi_ok) {
    napi_throw_error(env, NULL, "could not queue the request");
    goto fail;
  }
  return promise;
fail:
  if (r->buffer_ref) napi_delete_reference(env, r->buffer_ref);
  if (r->extra_ref) napi_delete_reference(env, r->extra_ref);
  free(r);
  return NULL;
}

static size_t fence_cell_length(size_t length) {
  (void)length;
  return 8;
}

static size_t crcs_length(size_t length) {
  return length % BLOCK == 0 ? (length / BLOCK) * 4 : 0;
}

static napi_value fenced_write(napi_env env, napi_callback_info info) {
  return queue_io(env, info, "fencedWrite(fd, buffer, position, cell)", write_execute, fence_cell_length, 8, "cell must be an aligned 8-byte Buffer");
}

static napi_value read_crcs(napi_env env, napi_callback_info info) {
  return queue_io(env, info, "readCrcs(fd, buffer, position, crcs)", read_execute, crcs_length, 4,
                  "buffer must be whole 4096-byte blocks and crcs an aligned Buffer of 4 bytes per block");
}

static napi_value read_crcs_cached(napi_env env, napi_callback_info info) {
  const char *usage = "readCrcsCached(fd, buffer, position, crcs)";
  size_t argc = 4;
  napi_value argv[4];
  int fd;
  int64_t position;
  void *data, *crcs;
  size_t length, crcs_size;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 4 || napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
      napi_get_value_int64(env, argv[2], &position) != napi_ok) {
    napi_throw_type_error(env, NULL, usage);
    return NULL;
  }
  if (!buffer_bytes(env, argv[1], &data, &length, usage)) return NULL;
  if (!buffer_bytes(env, argv[3], &crcs, &crcs_size, usage)) return NULL;
  if (crcs_length(length) == 0 || crcs_size != crcs_length(length) || ((uintptr_t)crcs & 3) != 0) {
    napi_throw_type_error(env, NULL, "buffer must be whole 4096-byte blocks and crcs an aligned Buffer of 4 bytes per block");
    return NULL;
  }
  if (fd < 0 || position < 0) {
    napi_throw_range_error(env, NULL, "fd and position must not be negative");
    return NULL;
  }
  napi_value v;
  napi_create_int32(env, read_cached(fd, data, length, position, crcs), &v);
  return v;
}

/* For tests: the CRC-32C of a Buffer, computed as readCrcs does. */
static napi_value crc32c_of(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  size_t length;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 1) {
    napi_throw_type_error(env, NULL, "crc32c(buffer)");
    return NULL;
  }
  void *bytes;
  if (!buffer_bytes(env, argv[0], &bytes, &length, "crc32c(buffer)")) return NULL;
  napi_value v;
  napi_create_uint32(env, length == 0 ? 0 : crc32c(bytes, length), &v);
  return v;
}

static napi_value monotonic_now(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value v;
  napi_create_bigint_int64(env, monotonic_ns(), &v);
  return v;
}

static napi_value init(napi_env env, napi_value exports) {
  crc_table_init();
#if defined(__x86_64__)
  __builtin_cpu_init();
  have_hw_crc = __builtin_cpu_supports("sse4.2");
#endif
  napi_property_descriptor props[] = {
      {"fencedWrite", NULL, fenced_write, NULL, NULL, NULL, napi_default, NULL},
      {"readCrcs", NULL, read_crcs, NULL, NULL, NULL, napi_default, NULL},
      {"readCrcsCached", NULL, read_crcs_cached, NULL, NULL, NULL, napi_default, NULL},
      {"crc32c", NULL, crc32c_of, NULL, NULL, NULL, napi_default, NULL},
      {"monotonicNs", NULL, monotonic_now, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
