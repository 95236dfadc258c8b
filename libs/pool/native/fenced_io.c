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
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref buffer_ref;
  napi_ref cell_ref;
  int fd;
  const uint8_t *data;
  size_t length;
  int64_t position;
  const int64_t *deadline;
  size_t written;
  int status;
} write_req;

static int64_t monotonic_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + (int64_t)ts.tv_nsec;
}

/* Runs on a thread of libuv's pool. */
static void execute(napi_env env, void *data) {
  (void)env;
  write_req *r = data;
  while (r->written < r->length) {
    if (monotonic_ns() >= __atomic_load_n(r->deadline, __ATOMIC_SEQ_CST)) {
      r->status = -1;
      return;
    }
    ssize_t n = pwrite(r->fd, r->data + r->written, r->length - r->written, (off_t)(r->position + (int64_t)r->written));
    if (n < 0) {
      if (errno == EINTR) continue;
      r->status = errno;
      return;
    }
    if (n == 0) {
      r->status = EIO;
      return;
    }
    r->written += (size_t)n;
  }
  r->status = 0;
}

static void complete(napi_env env, napi_status status, void *data) {
  write_req *r = data;
  napi_value result;
  napi_create_int32(env, status == napi_ok ? r->status : EIO, &result);
  napi_resolve_deferred(env, r->deferred, result);
  napi_delete_reference(env, r->buffer_ref);
  napi_delete_reference(env, r->cell_ref);
  napi_delete_async_work(env, r->work);
  free(r);
}

#define CHECK(call, msg)                    \
  do {                                      \
    if ((call) != napi_ok) {                \
      napi_throw_type_error(env, NULL, msg); \
      goto fail;                            \
    }                                       \
  } while (0)

static napi_value fenced_write(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_value promise = NULL;
  write_req *r = calloc(1, sizeof *r);
  if (r == NULL) {
    napi_throw_error(env, NULL, "out of memory");
    return NULL;
  }
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL), "bad call");
  if (argc != 4) {
    napi_throw_type_error(env, NULL, "fencedWrite(fd, buffer, position, cell)");
    goto fail;
  }
  bool ok;
  CHECK(napi_get_value_int32(env, argv[0], &r->fd), "fd must be a number");
  CHECK(napi_is_buffer(env, argv[1], &ok), "buffer must be a Buffer");
  if (!ok) {
    napi_throw_type_error(env, NULL, "buffer must be a Buffer");
    goto fail;
  }
  void *bytes;
  CHECK(napi_get_buffer_info(env, argv[1], &bytes, &r->length), "buffer must be a Buffer");
  r->data = bytes;
  CHECK(napi_get_value_int64(env, argv[2], &r->position), "position must be a number");
  CHECK(napi_is_buffer(env, argv[3], &ok), "cell must be a Buffer");
  void *cell;
  size_t cell_length;
  if (!ok || napi_get_buffer_info(env, argv[3], &cell, &cell_length) != napi_ok || cell_length != 8 || ((uintptr_t)cell & 7) != 0) {
    napi_throw_type_error(env, NULL, "cell must be an aligned 8-byte Buffer");
    goto fail;
  }
  if (r->fd < 0 || r->position < 0) {
    napi_throw_range_error(env, NULL, "fd and position must not be negative");
    goto fail;
  }
  r->deadline = cell;
  CHECK(napi_create_reference(env, argv[1], 1, &r->buffer_ref), "reference");
  CHECK(napi_create_reference(env, argv[3], 1, &r->cell_ref), "reference");
  napi_value name;
  CHECK(napi_create_string_utf8(env, "ferry.fencedWrite", NAPI_AUTO_LENGTH, &name), "name");
  CHECK(napi_create_promise(env, &r->deferred, &promise), "promise");
  CHECK(napi_create_async_work(env, NULL, name, execute, complete, r, &r->work), "async work");
  CHECK(napi_queue_async_work(env, r->work), "queue");
  return promise;
fail:
  if (r->buffer_ref) napi_delete_reference(env, r->buffer_ref);
  if (r->cell_ref) napi_delete_reference(env, r->cell_ref);
  free(r);
  return NULL;
}

static napi_value monotonic_now(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value v;
  napi_create_bigint_int64(env, monotonic_ns(), &v);
  return v;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"fencedWrite", NULL, fenced_write, NULL, NULL, NULL, napi_default, NULL},
      {"monotonicNs", NULL, monotonic_now, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
