//go:build ignore

/*
 * flbhost: a stand-in for Fluent Bit that loads a Go output plugin (a
 * c-shared library built with fluent-bit-go) and replays chunk files through
 * it, so that the plugin can be run and tested where Fluent Bit is not
 * installed.
 *
 * It follows the ABI and call order of Fluent Bit v5.1.1 (src/proxy/go/go.c,
 * src/flb_plugin_proxy.c, src/flb_output.c at that tag):
 *   - main thread: dlopen(RTLD_LAZY), FLBPluginPreRegister(0) if exported,
 *     FLBPluginRegister(def);
 *   - pipeline thread, per instance: FLBPluginInit(plugin) with the one
 *     shared struct flbgo_output_plugin whose o_ins and context are
 *     overwritten for each instance, then the instance's worker threads
 *     start; after all instances: FLBPluginOutputPreRun(0) per instance;
 *   - each flush: FLBPluginFlushCtx(remote_context, data, size, tag), or the
 *     legacy FLBPluginFlush(data, size, tag), on a fresh 64 KiB stack as
 *     Fluent Bit's coroutines provide, on the pipeline thread (-w 0) or on
 *     one of the instance's worker threads, chosen round-robin;
 *   - pipeline thread, per instance: stop its workers,
 *     FLBPluginOutputPreExit(0) if exported, FLBPluginExitCtx(context) or
 *     the legacy FLBPluginExit();
 *   - main thread: FLBPluginUnregister(def) if exported, dlclose.
 *
 * With -R the host replays the chunk files, performs a hot reload as Fluent
 * Bit v5.1.1 does on SIGHUP with Hot_Reload On (src/flb_reload.c,
 * src/flb_plugin_proxy.c), then replays the chunk files again:
 *   - main thread: dlopen again (the same handle, one more reference),
 *     FLBPluginPreRegister(1), FLBPluginRegister(new def);
 *   - old pipeline thread, per old instance: stop its workers,
 *     FLBPluginOutputPreExit(1), FLBPluginExitCtx;
 *   - main thread: FLBPluginUnregister(old def), dlclose (the library stays
 *     loaded, and so does the Go runtime with its package-level state);
 *   - new pipeline thread: FLBPluginInit for new instances numbered from 0
 *     again, FLBPluginOutputPreRun(1), the second replay, and at the end the
 *     ordinary shutdown with FLBPluginOutputPreExit(0).
 * With Hot_Reload On, Fluent Bit passes 1 to every FLBPluginOutputPreRun,
 * so -R does too.
 *
 * The tag and the data of each flush are fresh heap copies that are
 * overwritten with POISON_BYTE and freed when the call returns, so a plugin
 * that keeps borrowed bytes reads garbage instead of passing by luck.
 *
 * Differences from Fluent Bit:
 *   - a retry waits RETRY_WAIT_MS instead of seconds;
 *   - property values reach the plugin verbatim, whereas Fluent Bit expands
 *     ${VAR} first;
 *   - `tls on` and unknown net.* or oauth2* keys are hidden from the plugin
 *     but do not fail start-up as they do in Fluent Bit;
 *   - a hot reload (-R) happens once, after the first replay, rather than
 *     on a signal, and reads the same properties again.
 *
 * Chunk file format (written by cmd/flbchunk): a sequence of frames, each
 *   uint32 big-endian tag length (1 to MAX_TAG_LENGTH), the tag bytes (no NUL),
 *   uint32 big-endian data length, the data bytes,
 * where the data is the msgpack that Fluent Bit hands to a flush: a
 * concatenation of entries [[timestamp, metadata], record] or
 * [timestamp, record].
 *
 * Build: gcc -std=gnu11 -O2 -Wall -Wextra -o flbhost host/flbhost.c -ldl -lpthread
 * The "//go:build ignore" line makes the Go tool skip this file. Without it
 * Go would reject package host, whose tests build flbhost with gcc, because
 * Go allows C files only in packages that use cgo.
 */

#define _GNU_SOURCE

#include <dlfcn.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

/* Flush return codes and registration values, as in fluent-bit-go's flb_plugin.h. */
#define FLB_ERROR 0
#define FLB_OK    1
#define FLB_RETRY 2

#define FLB_PROXY_OUTPUT_PLUGIN 2
#define FLB_PROXY_GOLANG        11

#define EXIT_DROPPED     1
#define EXIT_USAGE       2
#define EXIT_INIT_FAILED 255 /* what Fluent Bit exits with when an output fails to initialise */

/* The stack that the Go proxy's flush coroutine gets in Fluent Bit v5.1.1. */
#define FLUSH_STACK_SIZE (64 * 1024)

#define RETRY_WAIT_MS   100
#define POISON_BYTE     0xDB
#define MAX_TAG_LENGTH  65535 /* a longer tag means the file is not a chunk file */
#define MAX_INSTANCES   64
#define MAX_WORKERS     64
#define MAX_RETRY_LIMIT 1000
#define MAX_CHUNK_DELAY_MS 600000

/*
 * Fluent Bit v5.1.1 structs that cross into the plugin. fluent-bit-go
 * declares a prefix of each, so the fields below must keep Fluent Bit's
 * order and types exactly.
 */

/* include/fluent-bit/flb_plugin_proxy.h: struct flb_plugin_proxy_def. */
struct flb_plugin_proxy_def {
    int type;
    int proxy;
    int flags;
    char *name;
    char *description;
    int event_type;   /* 0 means logs */
    void *config_map; /* NULL, so Fluent Bit checks no property names */
};

/*
 * include/fluent-bit/flb_api.h: struct flb_api. fluent-bit-go (the version
 * this project pins) calls only output_get_property, so the host leaves the
 * other entries NULL.
 */
struct flb_api {
    const char *(*output_get_property)(const char *key, void *o_ins);
    const char *(*input_get_property)(const char *key, void *i_ins);
    void *(*output_get_cmt_instance)(void *o_ins);
    void *(*input_get_cmt_instance)(void *i_ins);
    void (*log_print)(int level, const char *file, int line, const char *format, ...);
    int (*input_log_check)(void *i_ins, int level);
    int (*output_log_check)(void *o_ins, int level);
    const char *(*custom_get_property)(const char *key, void *c_ins);
    int (*custom_log_check)(void *c_ins, int level);
};

/* flb_plugin_proxy.h: struct flb_plugin_proxy_context, one per instance. */
struct flb_plugin_proxy_context {
    void *remote_context; /* written by FLBPluginSetContext during Init */
    void *proxy;          /* Fluent Bit's proxy struct, which the plugin never reads */
};

/* src/proxy/go/go.h: struct flbgo_output_plugin. */
struct flbgo_output_plugin {
    char *name;
    struct flb_api *api;
    void *o_ins;
    struct flb_plugin_proxy_context *context;
    int (*cb_init)(struct flbgo_output_plugin *plugin);
    int (*cb_flush)(const void *data, size_t size, const char *tag);
    int (*cb_flush_ctx)(void *remote_context, const void *data, size_t size, char *tag);
    int (*cb_exit)(void);
    int (*cb_exit_ctx)(void *remote_context);
};

#if defined(__x86_64__) || defined(__aarch64__)
_Static_assert(sizeof(struct flb_plugin_proxy_def) == 48, "flb_plugin_proxy_def layout");
_Static_assert(sizeof(struct flb_api) == 72, "flb_api layout");
_Static_assert(sizeof(struct flb_plugin_proxy_context) == 16, "flb_plugin_proxy_context layout");
_Static_assert(sizeof(struct flbgo_output_plugin) == 72, "flbgo_output_plugin layout");
#endif

/* A -p property. value is NULL for an empty value, as Fluent Bit stores it. */
struct property {
    char *key;
    char *value;
};

struct options {
    struct property *properties;
    size_t property_count;
    int instances;
    int workers;
    int retry_limit;
    int chunk_delay_ms; /* -d: pause between reading two chunks, to spread a replay over time */
    int quiet;
    int reload;      /* -R: replay, hot reload, replay again */
    int wait_stdin;  /* -s: after each replay, wait for a line on standard input */
    const char *plugin_path;
    char **chunk_paths;
    int chunk_path_count;
};

/* The loaded library: its entry points and the structs handed to it. */
struct plugin {
    void *handle;
    int (*pre_register)(int hot_reloading);
    int (*register_plugin)(struct flb_plugin_proxy_def *def);
    int (*pre_run)(int enable_hot_reload);
    void (*pre_exit)(int shutdown_by_hot_reloading);
    void (*unregister)(struct flb_plugin_proxy_def *def);
    char *name; /* copy of def.name, which Unregister frees */
    struct flb_plugin_proxy_def def;
    struct flb_api api;
    struct flbgo_output_plugin go; /* shared by every instance, as in Fluent Bit */
};

struct instance_stats {
    unsigned long flushes;
    unsigned long ok;
    unsigned long retry;
    unsigned long error; /* FLB_ERROR and any value that is not a return code */
    unsigned long chunks_delivered;
    unsigned long records_delivered;
    unsigned long chunks_dropped;
};

struct engine;

struct task_queue {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    struct flush_task *head;
    struct flush_task *tail;
    int closed;
};

struct worker {
    pthread_t thread;
    struct task_queue queue;
    struct engine *engine;
};

/* An output instance. Its address is the o_ins that the plugin passes back to output_get_property. */
struct output_instance {
    int id;
    char name[96]; /* "<plugin>.<id>", as Fluent Bit names instances */
    const struct options *options;
    struct flb_plugin_proxy_context context;
    struct worker *workers;
    int next_worker;
    struct instance_stats stats;
};

struct chunk {
    unsigned long number; /* position in the replay, counted from 1 */
    char *tag;
    size_t tag_length;
    unsigned char *data;
    size_t size;
    size_t records;
    int pending; /* instances that have not finished with the chunk */
};

struct flush_task {
    struct chunk *chunk;
    struct output_instance *instance;
    int attempts;
    int result;
    size_t stack_used;
    long long flush_ns; /* wall time of the last flush call */
    long long due_ms; /* when a scheduled retry may run */
    struct flush_task *next;
};

/* Reads frames from the chunk files one after another. */
struct chunk_reader {
    char **paths;
    int path_count;
    int path_index;
    FILE *file;
    unsigned long chunks_read;
};

/*
 * The pipeline of one configuration: one generation of instances. Only its
 * pipeline thread touches its fields, except the finished queue and the
 * reload handshake.
 */
struct engine {
    struct plugin *plugin;
    const struct options *options;
    const char *label; /* names the generation in the summary */
    int enable_hot_reload;  /* what FLBPluginOutputPreRun receives */
    int exit_by_reload;     /* what FLBPluginOutputPreExit receives */
    /* Reload handshake: the pipeline thread sets replayed after its replay
     * (or a failed Init) and waits for stop before it stops the instances. */
    pthread_mutex_t phase_lock;
    pthread_cond_t phase_changed;
    int hold_after_replay;
    int replayed;
    int stop;
    struct output_instance *instances;
    struct chunk_reader reader;
    int reader_done;
    struct task_queue finished; /* tasks that workers have flushed */
    struct flush_task *retry_head; /* due times ascend because every retry waits RETRY_WAIT_MS */
    struct flush_task *retry_tail;
    size_t chunks_in_memory;
    size_t max_chunks_in_memory;
    unsigned long records_read;
    size_t max_stack_used;
    long long max_flush_ns;   /* longest single flush call */
    long long total_flush_ns; /* sum over all flush calls */
    long long next_read_ms;   /* with -d, when the next chunk may be read */
    int status;
};

/* One call of the plugin's flush on the coroutine stack. */
struct flush_call {
    const struct plugin *plugin;
    void *remote_context;
    char *tag;
    unsigned char *data;
    size_t size;
    int result;
    ucontext_t caller;
};

static int quiet;

static void log_message(const char *level, const char *format, va_list args)
{
    char line[1024];

    vsnprintf(line, sizeof(line), format, args);
    fprintf(stderr, "flbhost: %s%s\n", level, line);
}

static void log_info(const char *format, ...)
{
    va_list args;

    if (quiet) {
        return;
    }
    va_start(args, format);
    log_message("", format, args);
    va_end(args);
}

static void log_warn(const char *format, ...)
{
    va_list args;

    if (quiet) {
        return;
    }
    va_start(args, format);
    log_message("warning: ", format, args);
    va_end(args);
}

static void log_error(const char *format, ...)
{
    va_list args;

    va_start(args, format);
    log_message("error: ", format, args);
    va_end(args);
}

static void *allocate(size_t size)
{
    void *memory = malloc(size > 0 ? size : 1);

    if (memory == NULL) {
        log_error("out of memory allocating %zu bytes", size);
        exit(EXIT_USAGE);
    }
    return memory;
}

static long long now_ms(void)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long long) now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* ---- Command line ---- */

static void print_usage(FILE *out)
{
    fprintf(out,
        "usage: flbhost [-p KEY=VALUE]... [-i INSTANCES] [-w WORKERS] [-r RETRY_LIMIT] [-d MS] [-R] [-s] [-q]\n"
        "               PLUGIN.so CHUNKFILE...\n"
        "\n"
        "Loads a Fluent Bit Go output plugin and replays chunk files through it with\n"
        "the calls, threads and 64 KiB flush stacks of Fluent Bit v5.1.1.\n"
        "\n"
        "  -p KEY=VALUE    set a property on every output instance; may be repeated.\n"
        "                  Keys are matched case-insensitively, and the first of\n"
        "                  duplicate keys wins. Keys that Fluent Bit keeps for itself\n"
        "                  (Name, Match, Match_Regex, Alias, Log_Level,\n"
        "                  Log_Suppress_Interval, Host, Port, IPv6, Retry_Limit,\n"
        "                  Workers, storage.total_limit_size, tls and its tls.*\n"
        "                  settings, net.*, oauth2*) are not passed to the plugin.\n"
        "  -i INSTANCES    number of output instances, each with the same properties\n"
        "                  (default 1, at most %d)\n"
        "  -w WORKERS      worker threads per instance (default 0: flushes run one at\n"
        "                  a time on the pipeline thread; at most %d)\n"
        "  -r RETRY_LIMIT  retries of a chunk whose flush returned FLB_RETRY (default 1,\n"
        "                  so two attempts in all; 0 drops the chunk at once). The host\n"
        "                  waits %d ms before a retry; Fluent Bit waits seconds.\n"
        "  -d MILLISECONDS pause between reading two chunks (default 0), to spread a\n"
        "                  replay over time as a live input would\n"
        "  -R              hot reload: replay the chunk files, reload as Fluent Bit does\n"
        "                  on SIGHUP with Hot_Reload On (register the plugin again,\n"
        "                  stop the old instances, start new ones with the same\n"
        "                  properties), then replay the chunk files again\n"
        "  -s              after each replay, before the instances stop, wait for a\n"
        "                  line on standard input (or its end), so that a test can\n"
        "                  inspect the running plugin\n"
        "  -q              print errors only\n"
        "  -h              print this help\n"
        "\n"
        "A chunk file is a sequence of frames: a 4-byte big-endian tag length, the\n"
        "tag, a 4-byte big-endian data length and the msgpack data. cmd/flbchunk\n"
        "writes such files.\n"
        "\n"
        "Exit status: 0 if every chunk was delivered to every instance, 1 if a chunk\n"
        "was dropped, 2 for invalid arguments, chunk files or plugin, 255 if\n"
        "FLBPluginInit failed (Fluent Bit exits with 255 too).\n",
        MAX_INSTANCES, MAX_WORKERS, RETRY_WAIT_MS);
}

static void usage_error(const char *format, ...)
{
    va_list args;

    va_start(args, format);
    log_message("error: ", format, args);
    va_end(args);
    fprintf(stderr, "Run 'flbhost -h' for help.\n");
    exit(EXIT_USAGE);
}

static int parse_count(const char *text, char option, int min, int max)
{
    char *end;
    long value;

    errno = 0;
    value = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || value < min || value > max) {
        usage_error("invalid -%c value '%s': expected a whole number from %d to %d",
                    option, text, min, max);
    }
    return (int) value;
}

/* Reports whether Fluent Bit v5.1.1 consumes the key itself (flb_output_set_property). */
static int is_reserved_key(const char *key)
{
    static const char *const reserved[] = {
        "name", "match", "match_regex", "alias", "log_level", "log_suppress_interval",
        "host", "port", "ipv6", "retry_limit", "workers", "storage.total_limit_size",
        "tls", "tls.verify", "tls.verify_hostname", "tls.debug", "tls.vhost",
        "tls.ca_path", "tls.ca_file", "tls.crt_file", "tls.key_file", "tls.key_passwd",
        "tls.min_version", "tls.max_version", "tls.ciphers", "tls.proxy.verify",
        "tls.proxy.verify_hostname", "tls.proxy.ca_path", "tls.proxy.ca_file",
        NULL,
    };
    size_t i;

    for (i = 0; reserved[i] != NULL; i++) {
        if (strcasecmp(key, reserved[i]) == 0) {
            return 1;
        }
    }

    /*
     * Other tls.* keys (tls.windows.* on Linux, misspellings) do reach the
     * plugin in Fluent Bit, so only these two families are prefixes.
     * NOTE: Fluent Bit also fails start-up on `tls on` and on net.* or oauth2*
     * keys that it does not know, but the host only hides them.
     */
    return strncasecmp(key, "net.", 4) == 0 || strncasecmp(key, "oauth2", 6) == 0;
}

static void add_property(struct options *options, const char *argument)
{
    const char *equals = strchr(argument, '=');
    struct property *property;
    size_t key_length;

    if (equals == NULL || equals == argument) {
        usage_error("invalid property '%s': expected KEY=VALUE", argument);
    }
    key_length = (size_t) (equals - argument);

    options->properties = realloc(options->properties,
                                  (options->property_count + 1) * sizeof(struct property));
    if (options->properties == NULL) {
        log_error("out of memory storing property '%s'", argument);
        exit(EXIT_USAGE);
    }
    property = &options->properties[options->property_count++];

    property->key = allocate(key_length + 1);
    memcpy(property->key, argument, key_length);
    property->key[key_length] = '\0';
    property->value = equals[1] != '\0' ? strdup(equals + 1) : NULL;
}

static void parse_options(int argc, char **argv, struct options *options)
{
    int option;

    memset(options, 0, sizeof(*options));
    options->instances = 1;
    options->retry_limit = 1;

    while ((option = getopt(argc, argv, "+p:i:w:r:d:Rsqh")) != -1) {
        switch (option) {
        case 'p':
            add_property(options, optarg);
            break;
        case 'i':
            options->instances = parse_count(optarg, 'i', 1, MAX_INSTANCES);
            break;
        case 'w':
            options->workers = parse_count(optarg, 'w', 0, MAX_WORKERS);
            break;
        case 'r':
            options->retry_limit = parse_count(optarg, 'r', 0, MAX_RETRY_LIMIT);
            break;
        case 'd':
            options->chunk_delay_ms = parse_count(optarg, 'd', 0, MAX_CHUNK_DELAY_MS);
            break;
        case 'R':
            options->reload = 1;
            break;
        case 's':
            options->wait_stdin = 1;
            break;
        case 'q':
            options->quiet = 1;
            break;
        case 'h':
            print_usage(stdout);
            exit(0);
        default:
            fprintf(stderr, "Run 'flbhost -h' for help.\n");
            exit(EXIT_USAGE);
        }
    }

    if (argc - optind < 2) {
        usage_error("missing %s: expected PLUGIN.so and at least one CHUNKFILE",
                    argc - optind == 0 ? "plugin and chunk file" : "chunk file");
    }
    options->plugin_path = argv[optind];
    options->chunk_paths = &argv[optind + 1];
    options->chunk_path_count = argc - optind - 1;
}

/* ---- Chunk files ---- */

static uint32_t read_uint32_be(const unsigned char *bytes)
{
    return ((uint32_t) bytes[0] << 24) | ((uint32_t) bytes[1] << 16) |
           ((uint32_t) bytes[2] << 8) | (uint32_t) bytes[3];
}

/*
 * Check the framing of a whole chunk file before the plugin is loaded, so
 * that a bad file stops the run before any flush instead of halfway.
 */
static int check_chunk_file(const char *path, unsigned long *chunk_count)
{
    FILE *file = fopen(path, "rb");
    struct stat info;
    off_t offset = 0;
    unsigned char header[4];
    char tag[MAX_TAG_LENGTH];

    if (file == NULL) {
        log_error("cannot open chunk file %s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fileno(file), &info) != 0 || !S_ISREG(info.st_mode)) {
        log_error("chunk file %s is not a regular file", path);
        fclose(file);
        return -1;
    }

    while (offset < info.st_size) {
        uint32_t tag_length;
        uint32_t data_length;
        off_t frame_start = offset;

        if (info.st_size - offset < 4 || fread(header, 1, 4, file) != 4) {
            goto truncated;
        }
        tag_length = read_uint32_be(header);
        if (tag_length == 0 || tag_length > MAX_TAG_LENGTH) {
            log_error("%s: frame at offset %jd has a tag length of %" PRIu32
                      " bytes, expected 1 to %d; is it a chunk file written by flbchunk?",
                      path, (intmax_t) frame_start, tag_length, MAX_TAG_LENGTH);
            fclose(file);
            return -1;
        }
        if (info.st_size - offset - 4 < (off_t) tag_length + 4 ||
            fread(tag, 1, tag_length, file) != tag_length ||
            fread(header, 1, 4, file) != 4) {
            goto truncated;
        }
        if (memchr(tag, '\0', tag_length) != NULL) {
            log_error("%s: the tag of the frame at offset %jd contains a NUL byte, "
                      "which would cut the tag that the plugin sees",
                      path, (intmax_t) frame_start);
            fclose(file);
            return -1;
        }
        data_length = read_uint32_be(header);
        offset += 8 + (off_t) tag_length;
        if (info.st_size - offset < (off_t) data_length) {
            goto truncated;
        }
        offset += data_length;
        if (fseeko(file, offset, SEEK_SET) != 0) {
            log_error("%s: cannot seek to offset %jd: %s", path, (intmax_t) offset, strerror(errno));
            fclose(file);
            return -1;
        }
        (*chunk_count)++;
        continue;

    truncated:
        log_error("%s: the frame at offset %jd runs past the end of the file (%jd bytes); "
                  "the file is truncated or not a chunk file",
                  path, (intmax_t) frame_start, (intmax_t) info.st_size);
        fclose(file);
        return -1;
    }

    fclose(file);
    return 0;
}

/*
 * Decode the header of the msgpack object at p: how many bytes the header
 * and the payload take and how many child objects follow. Returns -1 when
 * the header does not fit in the available bytes or is the never-used 0xc1.
 */
static int read_msgpack_header(const unsigned char *p, size_t available,
                               size_t *header_size, uint64_t *payload_size, uint64_t *children)
{
    unsigned char type = p[0];
    size_t length_size = 0; /* bytes of a big-endian length or count after the type byte */
    int counts_children = 0;
    int map = 0;
    size_t extra_header = 0; /* the type byte of ext formats */
    uint64_t length = 0;
    size_t i;

    *payload_size = 0;
    *children = 0;
    *header_size = 1;

    if (type <= 0x7f || type >= 0xe0 || type == 0xc0 || type == 0xc2 || type == 0xc3) {
        return 0;
    }
    if (type <= 0x8f) {
        *children = 2 * (uint64_t) (type & 0x0f);
        return 0;
    }
    if (type <= 0x9f) {
        *children = type & 0x0f;
        return 0;
    }
    if (type <= 0xbf) {
        *payload_size = type & 0x1f;
        return 0;
    }

    switch (type) {
    case 0xc4: case 0xd9: length_size = 1; break;               /* bin8, str8 */
    case 0xc5: case 0xda: length_size = 2; break;               /* bin16, str16 */
    case 0xc6: case 0xdb: length_size = 4; break;               /* bin32, str32 */
    case 0xc7: length_size = 1; extra_header = 1; break;        /* ext8 */
    case 0xc8: length_size = 2; extra_header = 1; break;        /* ext16 */
    case 0xc9: length_size = 4; extra_header = 1; break;        /* ext32 */
    case 0xcc: case 0xd0: *payload_size = 1; return 0;
    case 0xcd: case 0xd1: *payload_size = 2; return 0;
    case 0xca: case 0xce: case 0xd2: *payload_size = 4; return 0;
    case 0xcb: case 0xcf: case 0xd3: *payload_size = 8; return 0;
    case 0xd4: *header_size = 2; *payload_size = 1; return 0;   /* fixext 1 to 16 */
    case 0xd5: *header_size = 2; *payload_size = 2; return 0;
    case 0xd6: *header_size = 2; *payload_size = 4; return 0;
    case 0xd7: *header_size = 2; *payload_size = 8; return 0;
    case 0xd8: *header_size = 2; *payload_size = 16; return 0;
    case 0xdc: length_size = 2; counts_children = 1; break;     /* array16 */
    case 0xdd: length_size = 4; counts_children = 1; break;     /* array32 */
    case 0xde: length_size = 2; counts_children = 1; map = 1; break;
    case 0xdf: length_size = 4; counts_children = 1; map = 1; break;
    default:
        return -1; /* 0xc1 */
    }

    if (available < 1 + length_size + extra_header) {
        return -1;
    }
    for (i = 0; i < length_size; i++) {
        length = (length << 8) | p[1 + i];
    }
    *header_size = 1 + length_size + extra_header;
    if (counts_children) {
        *children = map ? 2 * length : length;
    }
    else {
        *payload_size = length;
    }
    return 0;
}

/*
 * Count the complete top-level msgpack objects in data, which are the
 * records of a chunk. *complete is set to 0 when the data ends inside an
 * object or contains an invalid byte.
 */
static size_t count_msgpack_objects(const unsigned char *data, size_t size, int *complete)
{
    size_t position = 0;
    size_t count = 0;

    *complete = 0;
    while (position < size) {
        uint64_t pending = 1; /* objects still to skip in the current entry */

        while (pending > 0) {
            size_t header_size;
            uint64_t payload_size;
            uint64_t children;

            if (position >= size ||
                read_msgpack_header(data + position, size - position,
                                    &header_size, &payload_size, &children) != 0 ||
                header_size > size - position) {
                return count;
            }
            position += header_size;
            if (payload_size > size - position) {
                return count;
            }
            position += (size_t) payload_size;
            pending = pending - 1 + children;
        }
        count++;
    }

    *complete = 1;
    return count;
}

static void read_exact(struct chunk_reader *reader, void *buffer, size_t size)
{
    if (fread(buffer, 1, size, reader->file) != size) {
        /* check_chunk_file accepted this file, so it changed during the run */
        log_error("%s: read failed or file shrank since it was checked",
                  reader->paths[reader->path_index]);
        exit(EXIT_USAGE);
    }
}

/* Read the next chunk into a fresh struct chunk, or return NULL after the last one. */
static struct chunk *read_next_chunk(struct chunk_reader *reader)
{
    unsigned char header[4];
    struct chunk *chunk;
    size_t got;
    int complete;

    for (;;) {
        if (reader->file == NULL) {
            if (reader->path_index >= reader->path_count) {
                return NULL;
            }
            reader->file = fopen(reader->paths[reader->path_index], "rb");
            if (reader->file == NULL) {
                log_error("cannot open chunk file %s: %s",
                          reader->paths[reader->path_index], strerror(errno));
                exit(EXIT_USAGE);
            }
        }

        got = fread(header, 1, 4, reader->file);
        if (got == 4) {
            break;
        }
        if (got != 0) {
            read_exact(reader, header + got, 4 - got);
            break;
        }
        fclose(reader->file);
        reader->file = NULL;
        reader->path_index++;
    }

    chunk = allocate(sizeof(*chunk));
    memset(chunk, 0, sizeof(*chunk));
    chunk->number = ++reader->chunks_read;

    chunk->tag_length = read_uint32_be(header);
    chunk->tag = allocate(chunk->tag_length + 1);
    read_exact(reader, chunk->tag, chunk->tag_length);
    chunk->tag[chunk->tag_length] = '\0'; /* for messages; flushes get their own copy */

    read_exact(reader, header, 4);
    chunk->size = read_uint32_be(header);
    chunk->data = allocate(chunk->size);
    read_exact(reader, chunk->data, chunk->size);

    chunk->records = count_msgpack_objects(chunk->data, chunk->size, &complete);
    if (!complete) {
        log_warn("chunk %lu (%s): the msgpack data is invalid or truncated after %zu "
                 "complete records; flushing it as it is",
                 chunk->number, reader->paths[reader->path_index], chunk->records);
    }
    return chunk;
}

/* ---- Task queues ---- */

static void queue_init(struct task_queue *queue)
{
    pthread_condattr_t attributes;

    memset(queue, 0, sizeof(*queue));
    pthread_mutex_init(&queue->lock, NULL);
    pthread_condattr_init(&attributes);
    pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC);
    pthread_cond_init(&queue->changed, &attributes);
    pthread_condattr_destroy(&attributes);
}

static void queue_push(struct task_queue *queue, struct flush_task *task)
{
    pthread_mutex_lock(&queue->lock);
    task->next = NULL;
    if (queue->tail != NULL) {
        queue->tail->next = task;
    }
    else {
        queue->head = task;
    }
    queue->tail = task;
    pthread_cond_signal(&queue->changed);
    pthread_mutex_unlock(&queue->lock);
}

static void queue_close(struct task_queue *queue)
{
    pthread_mutex_lock(&queue->lock);
    queue->closed = 1;
    pthread_cond_broadcast(&queue->changed);
    pthread_mutex_unlock(&queue->lock);
}

/*
 * Take the oldest task. Waits until one arrives, the queue is closed
 * (returns NULL) or, when deadline_ms is not negative, the monotonic clock
 * passes deadline_ms (returns NULL).
 */
static struct flush_task *queue_pop(struct task_queue *queue, long long deadline_ms)
{
    struct flush_task *task;
    struct timespec deadline;

    deadline.tv_sec = deadline_ms / 1000;
    deadline.tv_nsec = (deadline_ms % 1000) * 1000000;

    pthread_mutex_lock(&queue->lock);
    while (queue->head == NULL && !queue->closed) {
        if (deadline_ms < 0) {
            pthread_cond_wait(&queue->changed, &queue->lock);
        }
        else if (pthread_cond_timedwait(&queue->changed, &queue->lock, &deadline) == ETIMEDOUT) {
            break;
        }
    }
    task = queue->head;
    if (task != NULL) {
        queue->head = task->next;
        if (queue->head == NULL) {
            queue->tail = NULL;
        }
    }
    pthread_mutex_unlock(&queue->lock);
    return task;
}

/* ---- Flushing on a coroutine stack ---- */

static __thread struct flush_call *running_flush;

/* The memset goes through a volatile pointer so that the compiler cannot drop it as a store before free. */
static void *(*volatile fill_memory)(void *, int, size_t) = memset;

static void poison_and_free(void *buffer, size_t size)
{
    fill_memory(buffer, POISON_BYTE, size);
    free(buffer);
}

static void flush_entry(void)
{
    struct flush_call *call = running_flush;
    const struct flbgo_output_plugin *go = &call->plugin->go;

    if (go->cb_flush_ctx != NULL) {
        call->result = go->cb_flush_ctx(call->remote_context, call->data, call->size, call->tag);
    }
    else {
        call->result = go->cb_flush(call->data, call->size, call->tag);
    }
    /* Returning resumes call->caller through uc_link. */
}

/*
 * Run the flush on a fresh FLUSH_STACK_SIZE stack, as Fluent Bit runs every
 * flush in a coroutine. A PROT_NONE page below the stack turns an overflow
 * into SIGSEGV instead of silent heap damage. Returns the number of stack
 * bytes the call touched, an estimate that misses zero-filled words at the
 * deepest point.
 *
 * NOTE: with -w 0 an unrecovered Go panic in a flush aborts with "fatal
 * error: morestack on g0" in place of the panic message (go1.26.8). Go
 * unwinds to the g0 stack pointer saved by the Init callback on the thread's
 * own stack, outside the flush stack's bounds. A plugin should recover
 * panics in its flush.
 */
static size_t call_on_flush_stack(struct flush_call *call)
{
    size_t page_size = (size_t) sysconf(_SC_PAGESIZE);
    size_t mapping_size = page_size + FLUSH_STACK_SIZE;
    unsigned char *mapping;
    unsigned char *stack;
    ucontext_t coroutine;
    size_t untouched = 0;

    mapping = mmap(NULL, mapping_size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (mapping == MAP_FAILED) {
        log_error("cannot map a %d-byte flush stack: %s", FLUSH_STACK_SIZE, strerror(errno));
        exit(EXIT_USAGE);
    }
    if (mprotect(mapping, page_size, PROT_NONE) != 0) {
        log_error("cannot protect the guard page of a flush stack: %s", strerror(errno));
        exit(EXIT_USAGE);
    }
    stack = mapping + page_size;

    getcontext(&coroutine);
    coroutine.uc_stack.ss_sp = stack;
    coroutine.uc_stack.ss_size = FLUSH_STACK_SIZE;
    coroutine.uc_link = &call->caller;
    makecontext(&coroutine, flush_entry, 0);

    running_flush = call;
    swapcontext(&call->caller, &coroutine);
    running_flush = NULL;

    /* Fresh anonymous pages are zero, so the first non-zero word from the bottom is the deepest use. */
    while (untouched + sizeof(uint64_t) <= FLUSH_STACK_SIZE &&
           *(const uint64_t *) (stack + untouched) == 0) {
        untouched += sizeof(uint64_t);
    }

    munmap(mapping, mapping_size);
    return FLUSH_STACK_SIZE - untouched;
}

/* Flush one task's chunk once, from fresh copies of its tag and data. */
static void run_flush(const struct plugin *plugin, struct flush_task *task)
{
    const struct chunk *chunk = task->chunk;
    struct flush_call call;
    struct timespec started, ended;

    memset(&call, 0, sizeof(call));
    call.plugin = plugin;
    call.remote_context = task->instance->context.remote_context;

    call.tag = allocate(chunk->tag_length + 1);
    memcpy(call.tag, chunk->tag, chunk->tag_length);
    call.tag[chunk->tag_length] = '\0';

    call.data = allocate(chunk->size);
    memcpy(call.data, chunk->data, chunk->size);
    call.size = chunk->size;

    clock_gettime(CLOCK_MONOTONIC, &started);
    task->stack_used = call_on_flush_stack(&call);
    clock_gettime(CLOCK_MONOTONIC, &ended);
    task->flush_ns = (long long) (ended.tv_sec - started.tv_sec) * 1000000000LL +
                     (ended.tv_nsec - started.tv_nsec);
    task->result = call.result;
    task->attempts++;

    poison_and_free(call.tag, chunk->tag_length + 1);
    poison_and_free(call.data, chunk->size);
}

static void *worker_main(void *argument)
{
    struct worker *worker = argument;
    struct flush_task *task;

    while ((task = queue_pop(&worker->queue, -1)) != NULL) {
        run_flush(worker->engine->plugin, task);
        queue_push(&worker->engine->finished, task);
    }
    return NULL;
}

/* ---- Plugin ABI ---- */

/* api->output_get_property: o_ins is the struct output_instance that Init received. */
static const char *get_property(const char *key, void *o_ins)
{
    const struct output_instance *instance = o_ins;
    const struct options *options = instance->options;
    size_t i;

    if (key == NULL || key[0] == '\0') {
        return NULL;
    }
    for (i = 0; i < options->property_count; i++) {
        const struct property *property = &options->properties[i];

        if (!is_reserved_key(property->key) && strcasecmp(property->key, key) == 0) {
            return property->value;
        }
    }
    return NULL;
}

static void *find_symbol(void *handle, const char *name)
{
    void *symbol;

    dlerror();
    symbol = dlsym(handle, name);
    return dlerror() == NULL ? symbol : NULL;
}

/*
 * Load the library and register it on the calling (main) thread.
 * hot_reloading is what FLBPluginPreRegister receives: 1 when a hot reload
 * loads the library again. Returns -1 after logging why it failed.
 */
static int load_plugin(const char *path, struct plugin *plugin, int hot_reloading)
{
    struct flbgo_output_plugin *go = &plugin->go;
    int result;

    memset(plugin, 0, sizeof(*plugin));
    plugin->handle = dlopen(path, RTLD_LAZY);
    if (plugin->handle == NULL) {
        log_error("cannot load plugin %s: %s", path, dlerror());
        return -1;
    }

    plugin->pre_register = find_symbol(plugin->handle, "FLBPluginPreRegister");
    plugin->register_plugin = find_symbol(plugin->handle, "FLBPluginRegister");
    plugin->pre_run = find_symbol(plugin->handle, "FLBPluginOutputPreRun");
    plugin->pre_exit = find_symbol(plugin->handle, "FLBPluginOutputPreExit");
    plugin->unregister = find_symbol(plugin->handle, "FLBPluginUnregister");
    go->cb_init = find_symbol(plugin->handle, "FLBPluginInit");
    go->cb_flush = find_symbol(plugin->handle, "FLBPluginFlush");
    go->cb_flush_ctx = find_symbol(plugin->handle, "FLBPluginFlushCtx");
    go->cb_exit = find_symbol(plugin->handle, "FLBPluginExit");
    go->cb_exit_ctx = find_symbol(plugin->handle, "FLBPluginExitCtx");

    if (plugin->register_plugin == NULL || go->cb_init == NULL) {
        log_error("%s exports no %s; it is not a Fluent Bit Go plugin", path,
                  plugin->register_plugin == NULL ? "FLBPluginRegister" : "FLBPluginInit");
        return -1;
    }
    if (go->cb_flush_ctx == NULL && go->cb_flush == NULL) {
        log_error("%s exports neither FLBPluginFlushCtx nor FLBPluginFlush; "
                  "Fluent Bit would crash on its first flush", path);
        return -1;
    }

    if (plugin->pre_register != NULL && plugin->pre_register(hot_reloading) == -1) {
        log_error("FLBPluginPreRegister returned -1, so Fluent Bit would not register %s", path);
        return -1;
    }

    result = plugin->register_plugin(&plugin->def);
    if (result == -1) {
        log_error("FLBPluginRegister returned -1, so Fluent Bit would not register %s", path);
        return -1;
    }
    if (plugin->def.proxy != FLB_PROXY_GOLANG || plugin->def.type != FLB_PROXY_OUTPUT_PLUGIN) {
        log_error("%s registered type %d with proxy %d; an output plugin of the Go proxy "
                  "registers type %d with proxy %d", path, plugin->def.type, plugin->def.proxy,
                  FLB_PROXY_OUTPUT_PLUGIN, FLB_PROXY_GOLANG);
        return -1;
    }
    if (plugin->def.name == NULL || plugin->def.name[0] == '\0') {
        log_error("%s registered no plugin name", path);
        return -1;
    }

    plugin->name = strdup(plugin->def.name);
    plugin->api.output_get_property = get_property;
    go->name = plugin->name;
    go->api = &plugin->api;

    log_info("registered output plugin '%s' (%s)", plugin->name,
             plugin->def.description != NULL ? plugin->def.description : "no description");
    return 0;
}

/* ---- Pipeline ---- */

static void release_chunk(struct engine *engine, struct chunk *chunk)
{
    chunk->pending--;
    if (chunk->pending > 0) {
        return;
    }
    free(chunk->tag);
    free(chunk->data);
    free(chunk);
    engine->chunks_in_memory--;
}

static void dispatch(struct engine *engine, struct flush_task *task);

/* Account for one flush and decide, as Fluent Bit's engine does, whether the chunk is done, retried or dropped. */
static void handle_result(struct engine *engine, struct flush_task *task)
{
    struct output_instance *instance = task->instance;
    struct instance_stats *stats = &instance->stats;
    struct chunk *chunk = task->chunk;

    stats->flushes++;
    if (task->stack_used > engine->max_stack_used) {
        engine->max_stack_used = task->stack_used;
    }
    engine->total_flush_ns += task->flush_ns;
    if (task->flush_ns > engine->max_flush_ns) {
        engine->max_flush_ns = task->flush_ns;
    }

    switch (task->result) {
    case FLB_OK:
        stats->ok++;
        stats->chunks_delivered++;
        stats->records_delivered += chunk->records;
        break;

    case FLB_RETRY:
        stats->retry++;
        if (task->attempts <= engine->options->retry_limit) {
            log_warn("chunk %lu (tag %s): %s returned FLB_RETRY; retrying in %d ms "
                     "(attempt %d of %d)", chunk->number, chunk->tag,
                     instance->name, RETRY_WAIT_MS, task->attempts + 1,
                     engine->options->retry_limit + 1);
            task->due_ms = now_ms() + RETRY_WAIT_MS;
            task->next = NULL;
            if (engine->retry_tail != NULL) {
                engine->retry_tail->next = task;
            }
            else {
                engine->retry_head = task;
            }
            engine->retry_tail = task;
            return;
        }
        log_error("chunk %lu (tag %s): %s returned FLB_RETRY on the last of %d attempts; "
                  "chunk dropped", chunk->number, chunk->tag, instance->name, task->attempts);
        stats->chunks_dropped++;
        break;

    default:
        stats->error++;
        stats->chunks_dropped++;
        if (task->result == FLB_ERROR) {
            log_warn("chunk %lu (tag %s): %s returned FLB_ERROR; chunk dropped",
                     chunk->number, chunk->tag, instance->name);
        }
        else {
            log_warn("chunk %lu (tag %s): %s returned %d, which Fluent Bit treats as "
                     "FLB_ERROR; chunk dropped", chunk->number, chunk->tag, instance->name,
                     task->result);
        }
        break;
    }

    release_chunk(engine, chunk);
    free(task);
}

/* Run the task on the pipeline thread, or hand it to the next worker of its instance. */
static void dispatch(struct engine *engine, struct flush_task *task)
{
    struct output_instance *instance = task->instance;
    int workers = engine->options->workers;

    if (workers == 0) {
        run_flush(engine->plugin, task);
        handle_result(engine, task);
        return;
    }

    queue_push(&instance->workers[instance->next_worker].queue, task);
    instance->next_worker = (instance->next_worker + 1) % workers;
}

static void dispatch_due_retries(struct engine *engine)
{
    long long now = now_ms();

    while (engine->retry_head != NULL && engine->retry_head->due_ms <= now) {
        struct flush_task *task = engine->retry_head;

        engine->retry_head = task->next;
        if (engine->retry_head == NULL) {
            engine->retry_tail = NULL;
        }
        dispatch(engine, task);
    }
}

static void dispatch_chunk(struct engine *engine, struct chunk *chunk)
{
    int count = engine->options->instances;
    int i;

    engine->chunks_in_memory++;
    engine->records_read += chunk->records;
    chunk->pending = count;

    /* With -w 0 the last dispatch may free the chunk, so it is not touched after the loop. */
    for (i = 0; i < count; i++) {
        struct flush_task *task = allocate(sizeof(*task));

        memset(task, 0, sizeof(*task));
        task->chunk = chunk;
        task->instance = &engine->instances[i];
        dispatch(engine, task);
    }
}

static void replay_chunks(struct engine *engine)
{
    for (;;) {
        struct flush_task *finished;
        struct chunk *chunk;
        long long deadline;

        dispatch_due_retries(engine);

        while ((finished = queue_pop(&engine->finished, 0)) != NULL) {
            handle_result(engine, finished);
        }

        if (!engine->reader_done && engine->chunks_in_memory < engine->max_chunks_in_memory &&
            now_ms() >= engine->next_read_ms) {
            chunk = read_next_chunk(&engine->reader);
            engine->next_read_ms = now_ms() + engine->options->chunk_delay_ms;
            if (chunk == NULL) {
                engine->reader_done = 1;
            }
            else {
                dispatch_chunk(engine, chunk);
            }
            continue;
        }

        if (engine->reader_done && engine->chunks_in_memory == 0) {
            return;
        }

        /* Sleep until a worker finishes a flush or the first retry is due. */
        deadline = engine->retry_head != NULL ? engine->retry_head->due_ms : -1;
        if (!engine->reader_done && engine->options->chunk_delay_ms > 0 &&
            (deadline < 0 || engine->next_read_ms < deadline)) {
            deadline = engine->next_read_ms;
        }
        finished = queue_pop(&engine->finished, deadline);
        if (finished != NULL) {
            handle_result(engine, finished);
        }
    }
}

static void start_workers(struct engine *engine, struct output_instance *instance)
{
    int count = engine->options->workers;
    int i;

    if (count == 0) {
        return;
    }
    instance->workers = allocate(count * sizeof(struct worker));
    for (i = 0; i < count; i++) {
        struct worker *worker = &instance->workers[i];
        int error;

        queue_init(&worker->queue);
        worker->engine = engine;
        error = pthread_create(&worker->thread, NULL, worker_main, worker);
        if (error != 0) {
            log_error("cannot start worker %d of %s: %s", i, instance->name, strerror(error));
            exit(EXIT_USAGE);
        }
    }
}

static void stop_workers(struct engine *engine, struct output_instance *instance)
{
    int i;

    for (i = 0; i < engine->options->workers; i++) {
        queue_close(&instance->workers[i].queue);
        pthread_join(instance->workers[i].thread, NULL);
    }
}

/* Tell the main thread that the replay is over, and with -R wait until it asks this generation to stop. */
static void finish_replay(struct engine *engine)
{
    pthread_mutex_lock(&engine->phase_lock);
    engine->replayed = 1;
    pthread_cond_broadcast(&engine->phase_changed);
    while (engine->hold_after_replay && !engine->stop) {
        pthread_cond_wait(&engine->phase_changed, &engine->phase_lock);
    }
    pthread_mutex_unlock(&engine->phase_lock);
}

/* Block until a whole line or the end of standard input, for -s. */
static void wait_for_stdin(const struct engine *engine)
{
    char buffer[256];

    log_info("replay%s done; waiting for a line on standard input before stopping the instances",
             engine->label);
    while (fgets(buffer, sizeof(buffer), stdin) != NULL && strchr(buffer, '\n') == NULL) {
    }
}

/* The pipeline thread: Fluent Bit runs Init, PreRun, the flushes of instances without workers, and the exit callbacks on it. */
static void *pipeline_main(void *argument)
{
    struct engine *engine = argument;
    struct plugin *plugin = engine->plugin;
    struct flbgo_output_plugin *go = &plugin->go;
    int i;

    for (i = 0; i < engine->options->instances; i++) {
        struct output_instance *instance = &engine->instances[i];
        int result;

        /* The same struct serves every instance, so the plugin must read everything inside Init. */
        go->o_ins = instance;
        go->context = &instance->context;
        result = go->cb_init(go);
        if (result <= 0) {
            log_error("FLBPluginInit of %s returned %d; Fluent Bit stops with "
                      "\"could not initialize '%s' plugin\" and exit code %d",
                      instance->name, result, plugin->name, EXIT_INIT_FAILED);
            engine->status = EXIT_INIT_FAILED;
            finish_replay(engine);
            return NULL;
        }
        start_workers(engine, instance);
    }

    if (plugin->pre_run != NULL) {
        for (i = 0; i < engine->options->instances; i++) {
            plugin->pre_run(engine->enable_hot_reload);
        }
    }

    replay_chunks(engine);
    if (engine->options->wait_stdin) {
        wait_for_stdin(engine);
    }
    finish_replay(engine);

    for (i = 0; i < engine->options->instances; i++) {
        struct output_instance *instance = &engine->instances[i];

        stop_workers(engine, instance);
        if (plugin->pre_exit != NULL) {
            plugin->pre_exit(engine->exit_by_reload);
        }
        if (go->cb_exit_ctx != NULL) {
            go->cb_exit_ctx(instance->context.remote_context);
        }
        else if (go->cb_exit != NULL) {
            go->cb_exit();
        }
    }
    return NULL;
}

static int print_summary(const struct engine *engine)
{
    const struct options *options = engine->options;
    int dropped = 0;
    int i;

    log_info("summary%s: chunks %lu, records %lu, instances %d, workers per instance %d",
             engine->label, engine->reader.chunks_read, engine->records_read, options->instances,
             options->workers);

    for (i = 0; i < options->instances; i++) {
        const struct output_instance *instance = &engine->instances[i];
        const struct instance_stats *stats = &instance->stats;

        log_info("summary%s: %s: flushes %lu (OK %lu, RETRY %lu, ERROR %lu), "
                 "chunks delivered %lu (records %lu), chunks dropped %lu",
                 engine->label, instance->name, stats->flushes, stats->ok, stats->retry, stats->error,
                 stats->chunks_delivered, stats->records_delivered, stats->chunks_dropped);
        if (stats->chunks_dropped > 0) {
            dropped = 1;
        }
    }

    log_info("summary%s: deepest flush stack use %zu of %d bytes",
             engine->label, engine->max_stack_used, FLUSH_STACK_SIZE);
    {
        unsigned long flushes = 0;

        for (i = 0; i < options->instances; i++) {
            flushes += engine->instances[i].stats.flushes;
        }
        log_info("summary%s: flush time longest %.3f ms, mean %.3f ms",
                 engine->label, engine->max_flush_ns / 1e6,
                 flushes > 0 ? engine->total_flush_ns / 1e6 / (double) flushes : 0.0);
    }
    return dropped;
}

/* Log the process's peak resident memory, VmHWM in /proc/self/status, which counts the plugin's Go heap too. */
static void print_peak_memory(void)
{
    FILE *status = fopen("/proc/self/status", "r");
    char line[256];

    if (status == NULL) {
        return;
    }
    while (fgets(line, sizeof(line), status) != NULL) {
        long kilobytes;

        if (sscanf(line, "VmHWM: %ld kB", &kilobytes) == 1) {
            log_info("summary: peak resident memory (VmHWM) %ld kB", kilobytes);
            break;
        }
    }
    fclose(status);
}

/* Prepare a generation of instances over the chunk files, not yet started. */
static void init_engine(struct engine *engine, struct plugin *plugin, const struct options *options,
                        const char *label)
{
    int i;

    memset(engine, 0, sizeof(*engine));
    engine->plugin = plugin;
    engine->options = options;
    engine->label = label;
    engine->enable_hot_reload = options->reload;
    engine->reader.paths = options->chunk_paths;
    engine->reader.path_count = options->chunk_path_count;
    /* Enough read-ahead to keep every worker busy, and a bound on memory. */
    engine->max_chunks_in_memory = 4 + 2 * (size_t) options->workers;
    queue_init(&engine->finished);
    pthread_mutex_init(&engine->phase_lock, NULL);
    pthread_cond_init(&engine->phase_changed, NULL);

    engine->instances = allocate(options->instances * sizeof(struct output_instance));
    memset(engine->instances, 0, options->instances * sizeof(struct output_instance));
    for (i = 0; i < options->instances; i++) {
        struct output_instance *instance = &engine->instances[i];

        instance->id = i;
        snprintf(instance->name, sizeof(instance->name), "%s.%d", plugin->name, i);
        instance->options = options;
        instance->context.proxy = plugin;
    }
}

static void start_pipeline(struct engine *engine, pthread_t *thread)
{
    int error = pthread_create(thread, NULL, pipeline_main, engine);

    if (error != 0) {
        log_error("cannot start the pipeline thread: %s", strerror(error));
        exit(EXIT_USAGE);
    }
}

static void unload_plugin(struct plugin *plugin)
{
    if (plugin->unregister != NULL) {
        plugin->unregister(&plugin->def);
    }
    dlclose(plugin->handle);
}

/*
 * Run the first generation until its replay is over, then reload as Fluent
 * Bit does: register the library again, stop the old instances, unregister
 * the old definition, and start the second generation. Returns 0, or
 * EXIT_INIT_FAILED or EXIT_USAGE after logging why.
 */
static int run_with_reload(struct engine *old_engine, struct plugin *old_plugin,
                           struct engine *new_engine, struct plugin *new_plugin,
                           const struct options *options)
{
    pthread_t old_pipeline;
    pthread_t new_pipeline;

    old_engine->hold_after_replay = 1;
    old_engine->exit_by_reload = 1;
    start_pipeline(old_engine, &old_pipeline);

    pthread_mutex_lock(&old_engine->phase_lock);
    while (!old_engine->replayed) {
        pthread_cond_wait(&old_engine->phase_changed, &old_engine->phase_lock);
    }
    pthread_mutex_unlock(&old_engine->phase_lock);

    if (old_engine->status == EXIT_INIT_FAILED) {
        pthread_join(old_pipeline, NULL);
        return EXIT_INIT_FAILED;
    }

    log_info("hot reload: registering %s again", options->plugin_path);
    if (load_plugin(options->plugin_path, new_plugin, 1) != 0) {
        return EXIT_USAGE;
    }

    log_info("hot reload: stopping the old instances");
    pthread_mutex_lock(&old_engine->phase_lock);
    old_engine->stop = 1;
    pthread_cond_broadcast(&old_engine->phase_changed);
    pthread_mutex_unlock(&old_engine->phase_lock);
    pthread_join(old_pipeline, NULL);
    unload_plugin(old_plugin);

    log_info("hot reload: starting the new instances");
    init_engine(new_engine, new_plugin, options, " after reload");
    start_pipeline(new_engine, &new_pipeline);
    pthread_join(new_pipeline, NULL);
    if (new_engine->status == EXIT_INIT_FAILED) {
        return EXIT_INIT_FAILED;
    }
    unload_plugin(new_plugin);
    return 0;
}

int main(int argc, char **argv)
{
    struct options options;
    struct plugin plugin;
    struct plugin reloaded_plugin;
    struct engine engine;
    struct engine reloaded_engine;
    unsigned long chunk_count = 0;
    pthread_t pipeline;
    int dropped;
    int i;

    parse_options(argc, argv, &options);
    quiet = options.quiet;

    for (i = 0; i < options.chunk_path_count; i++) {
        if (check_chunk_file(options.chunk_paths[i], &chunk_count) != 0) {
            return EXIT_USAGE;
        }
    }
    if (chunk_count == 0) {
        log_warn("the chunk files contain no chunks, so nothing will be flushed");
    }

    for (i = 0; i < (int) options.property_count; i++) {
        if (is_reserved_key(options.properties[i].key)) {
            log_warn("property %s is kept by Fluent Bit and not passed to the plugin",
                     options.properties[i].key);
        }
    }

    if (load_plugin(options.plugin_path, &plugin, 0) != 0) {
        return EXIT_USAGE;
    }
    init_engine(&engine, &plugin, &options, options.reload ? " before reload" : "");

    if (options.reload) {
        int status = run_with_reload(&engine, &plugin, &reloaded_engine, &reloaded_plugin, &options);

        if (status != 0) {
            return status;
        }
        dropped = print_summary(&engine);
        dropped |= print_summary(&reloaded_engine);
    }
    else {
        start_pipeline(&engine, &pipeline);
        pthread_join(pipeline, NULL);
        if (engine.status == EXIT_INIT_FAILED) {
            return EXIT_INIT_FAILED;
        }
        unload_plugin(&plugin);
        dropped = print_summary(&engine);
    }

    print_peak_memory();
    return dropped ? EXIT_DROPPED : 0;
}
