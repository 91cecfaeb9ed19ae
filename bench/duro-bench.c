/* bench/duro-bench.c: duro's load generator. Options, the loopback-only target, threads, the
 * hard time bound, and the report (human lines, then one JSON line last).
 *
 *   duro-bench echo|connect|idle|http|broadcast [--url URL] [-c N] [-p N] [-s N] [-d S] ...
 *
 * Exit status: 0, 1 when a connection failed or a reply did not verify, 2 on bad usage, 3 when
 * the hard time bound was hit. */
#include <arpa/inet.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bench/bench.h"
#include "bench/procrss.h"
#include "common/hash.h"

#define EXIT_FAILED 1
#define EXIT_USAGE 2
#define EXIT_TIMEOUT 3
#define DEFAULT_CONNS 100u
#define DEFAULT_CONNECT_CONNS 32u
#define DEFAULT_SIZE 32u
#define DEFAULT_DURATION_S 5.0
#define DEFAULT_WARMUP_S 1.0
#define DEFAULT_CONNECT_TIMEOUT_S 30.0
#define DEFAULT_BURST 256u
#define FDS_RESERVED 64u          /* stdio, the loop's own descriptors, /proc reads */
#define HARD_BOUND_SLACK_S 15u    /* past every phase's own bound */
#define PORT_USE_PERCENT 80u      /* of the ephemeral range, per source address */
#define MAX_THREADS 64u
#define MAX_CONNS 1000000u
#define MAX_SIZE (64u << 20)
#define MAX_DURATION_S 86400.0
#define NS_PER_US 1000.0

static const char usage[] =
    "usage: duro-bench MODE [options]\n"
    "modes:\n"
    "  echo       C sockets, each keeping P messages of S bytes in flight for D seconds:\n"
    "             messages/s and round-trip latency; every reply is verified\n"
    "  connect    C loops of connect, upgrade, one message, close: handshakes/s and latency\n"
    "  idle       open C sockets and hold them D seconds; with --pid, RSS of that process\n"
    "             tree before and after, and bytes per socket\n"
    "  http       C keep-alive connections, P pipelined GETs each: requests/s\n"
    "  broadcast  one room of C sockets (class chat: every message goes to every socket);\n"
    "             P messages in flight, each sent by the next socket: deliveries/s and\n"
    "             fan-out latency\n"
    "options:\n"
    "  -u, --url URL          ws://127.0.0.1:8787/websocket (http mode: http://HOST:PORT/PATH);\n"
    "                         loopback only (127.0.0.0/8 or localhost)\n"
    "  -c, --conns N          connections (default 100; connect: concurrent loops, default 32)\n"
    "  -p, --inflight N       per connection (broadcast: in total) in flight (default 1)\n"
    "  -s, --size N           message bytes (default 32)\n"
    "  -d, --duration S       measured seconds (default 5)\n"
    "  -w, --warmup S         seconds of load before the measured window (default 1)\n"
    "  -t, --threads N        client threads, each with its own loop (default 1)\n"
    "  -e, --expect KIND      seed: replies are '[Durable Object] message: M, connections: N'\n"
    "                         with N = the connections open; echo: identical bytes; none.\n"
    "                         Default seed (broadcast: echo)\n"
    "  -b, --binary           send binary messages\n"
    "      --deflate          offer permessage-deflate (RFC 7692; 'client_max_window_bits'):\n"
    "                         messages are compressed (zlib level 1), replies inflated\n"
    "      --json             JSON-like message bodies (compress like chat traffic) instead\n"
    "                         of the letter pattern\n"
    "      --status CODE      http: every response must have this status (default: any)\n"
    "      --post             http: POST a text body of -s bytes instead of GET (a room's\n"
    "                         HTTP push; count its deliveries with idle -e none)\n"
    "                         idle with -e none counts messages pushed to its sockets\n"
    "      --pid PID          idle: the process tree whose memory to measure\n"
    "      --source-ips N     spread connections over 127.0.0.1..127.0.0.N (default: as many\n"
    "                         as C needs for the ephemeral port range)\n"
    "      --burst N          connections being opened at once (default 256)\n"
    "      --connect-timeout S  bound on opening the connections (default 30)\n"
    "      --text MSG         echo: send exactly the text MSG each time (replies unchecked),\n"
    "                         e.g. --text incr against the counter class\n"
    "      --objects N        \"{n}\" in the URL's path becomes the connection number mod N\n"
    "  -q, --quiet            no progress lines on stderr\n"
    "  -h, --help\n"
    "Also: duro-bench slot CLASS NAME WORKERS prints which worker (0..WORKERS-1) duro's gateway\n"
    "gives the object (CLASS, NAME), to aim sockets at a chosen worker.\n"
    "The last line of output is one JSON object with the results.\n";

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "duro-bench: hard time bound reached, exiting\n";
    ssize_t n = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)n;
    _exit(EXIT_TIMEOUT);
}

static int bad(const char *fmt, const char *arg)
{
    fprintf(stderr, "duro-bench: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n");
    return -1;
}

static int parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (s[0] == '\0' || s[0] == '-' || *end != '\0' || v < lo || v > hi) {
        return -1;
    }
    *out = (unsigned)v;
    return 0;
}

static int parse_secs(const char *s, double lo, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (s[0] == '\0' || *end != '\0' || !(v >= lo) || v > MAX_DURATION_S) {
        return -1;
    }
    *out = v;
    return 0;
}

/* ws://HOST[:PORT][/PATH] or http://...; HOST must be a 127.x.y.z literal or localhost. */
static int parse_url(struct opts *o, const char *url)
{
    const char *p;
    if (strncmp(url, "ws://", 5) == 0) {
        p = url + 5;
    } else if (strncmp(url, "http://", 7) == 0) {
        p = url + 7;
    } else {
        return bad("--url '%s': want ws://HOST:PORT/PATH or http://HOST:PORT/PATH", url);
    }
    const char *slash = strchr(p, '/');
    size_t alen = slash ? (size_t)(slash - p) : strlen(p);
    char auth[BENCH_HOST_MAX_BYTES];
    if (alen == 0 || alen >= sizeof auth) {
        return bad("--url '%s': bad host", url);
    }
    memcpy(auth, p, alen);
    auth[alen] = '\0';
    memcpy(o->host_header, auth, alen + 1);
    unsigned port = 80;
    char *colon = strrchr(auth, ':');
    if (colon != NULL) {
        *colon = '\0';
        if (parse_uint(colon + 1, 1, 65535, &port) != 0) {
            return bad("--url '%s': bad port", url);
        }
    }
    const char *host = strcmp(auth, "localhost") == 0 ? "127.0.0.1" : auth;
    struct in_addr a;
    if (inet_pton(AF_INET, host, &a) != 1) {
        return bad("--url '%s': the host must be an IPv4 loopback address or localhost", url);
    }
    if ((ntohl(a.s_addr) >> 24) != 127) {
        return bad("--url '%s': refusing a target outside 127.0.0.0/8 (loopback only)", url);
    }
    memset(&o->dst, 0, sizeof o->dst);
    o->dst.sin_family = AF_INET;
    o->dst.sin_port = htons((uint16_t)port);
    o->dst.sin_addr = a;
    const char *path = slash ? slash : "/";
    size_t plen = strcspn(path, "#");
    if (plen >= sizeof o->target) {
        return bad("--url '%s': path too long", url);
    }
    for (size_t i = 0; i < plen; i++) {
        if ((unsigned char)path[i] <= ' ' || path[i] == 0x7F) {
            return bad("--url '%s': the path holds spaces or control characters", url);
        }
    }
    memcpy(o->target, path, plen);
    o->target[plen] = '\0';
    o->url = url;
    return 0;
}

static unsigned port_range(void)
{
    unsigned lo = 32768, hi = 60999;
    FILE *f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    if (f != NULL) {
        if (fscanf(f, "%u %u", &lo, &hi) != 2 || hi < lo) {
            lo = 32768;
            hi = 60999;
        }
        fclose(f);
    }
    return hi - lo + 1;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
    enum { OPT_STATUS = 256, OPT_POST, OPT_PID, OPT_SOURCE_IPS, OPT_BURST, OPT_CONNECT_TIMEOUT,
           OPT_TEXT, OPT_OBJECTS, OPT_DEFLATE, OPT_JSON };
    static const struct option lopts[] = {
        { "url", required_argument, NULL, 'u' },
        { "conns", required_argument, NULL, 'c' },
        { "inflight", required_argument, NULL, 'p' },
        { "size", required_argument, NULL, 's' },
        { "duration", required_argument, NULL, 'd' },
        { "warmup", required_argument, NULL, 'w' },
        { "threads", required_argument, NULL, 't' },
        { "expect", required_argument, NULL, 'e' },
        { "binary", no_argument, NULL, 'b' },
        { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },
        { "status", required_argument, NULL, OPT_STATUS },
        { "post", no_argument, NULL, OPT_POST },
        { "pid", required_argument, NULL, OPT_PID },
        { "source-ips", required_argument, NULL, OPT_SOURCE_IPS },
        { "burst", required_argument, NULL, OPT_BURST },
        { "connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT },
        { "text", required_argument, NULL, OPT_TEXT },
        { "objects", required_argument, NULL, OPT_OBJECTS },
        { "deflate", no_argument, NULL, OPT_DEFLATE },
        { "json", no_argument, NULL, OPT_JSON },
        { NULL, 0, NULL, 0 },
    };
    if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? -1 : 1;
    }
    static const char *const names[] = { "echo", "connect", "idle", "http", "broadcast" };
    int mode = -1;
    for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++) {
        if (strcmp(argv[1], names[i]) == 0) {
            mode = i;
        }
    }
    if (mode < 0) {
        fprintf(stderr, "duro-bench: unknown mode '%s'\n%s", argv[1], usage);
        return -1;
    }
    o->mode = (enum mode)mode;
    o->conns = o->mode == MODE_CONNECT ? DEFAULT_CONNECT_CONNS : DEFAULT_CONNS;
    o->inflight = 1;
    o->size = DEFAULT_SIZE;
    o->threads = 1;
    o->duration_s = DEFAULT_DURATION_S;
    o->warmup_s = DEFAULT_WARMUP_S;
    o->connect_timeout_s = DEFAULT_CONNECT_TIMEOUT_S;
    o->burst = DEFAULT_BURST;
    o->expect = o->mode == MODE_BROADCAST ? EXPECT_ECHO : EXPECT_SEED;
    const char *url = o->mode == MODE_HTTP ? "http://127.0.0.1:8787/"
                                           : "ws://127.0.0.1:8787/websocket";
    unsigned sips = 0, status = 0, pid = 0;
    int c;
    optind = 2;
    while ((c = getopt_long(argc, argv, "u:c:p:s:d:w:t:e:bqh", lopts, NULL)) != -1) {
        int rc = 0;
        switch (c) {
        case 'u': url = optarg; break;
        case 'c': rc = parse_uint(optarg, 1, MAX_CONNS, &o->conns); break;
        case 'p': rc = parse_uint(optarg, 1, BENCH_INFLIGHT_MAX, &o->inflight); break;
        case 's': rc = parse_uint(optarg, 0, MAX_SIZE, &o->size); break;
        case 'd': rc = parse_secs(optarg, 0.001, &o->duration_s); break;
        case 'w': rc = parse_secs(optarg, 0.0, &o->warmup_s); break;
        case 't': rc = parse_uint(optarg, 1, MAX_THREADS, &o->threads); break;
        case 'b': o->binary = 1; break;
        case OPT_TEXT:
            o->text = optarg;
            o->expect = EXPECT_NONE;
            break;
        case OPT_OBJECTS: rc = parse_uint(optarg, 1, MAX_CONNS, &o->objects); break;
        case 'q': o->quiet = 1; break;
        case 'h': fputs(usage, stdout); return 1;
        case 'e':
            if (strcmp(optarg, "seed") == 0) {
                o->expect = EXPECT_SEED;
            } else if (strcmp(optarg, "echo") == 0) {
                o->expect = EXPECT_ECHO;
            } else if (strcmp(optarg, "none") == 0) {
                o->expect = EXPECT_NONE;
            } else {
                rc = -1;
            }
            break;
        case OPT_STATUS: rc = parse_uint(optarg, 100, 599, &status); break;
        case OPT_POST: o->post = 1; break;
        case OPT_DEFLATE: o->deflate = 1; break;
        case OPT_JSON: o->json = 1; break;
        case OPT_PID: rc = parse_uint(optarg, 1, INT32_MAX, &pid); break;
        case OPT_SOURCE_IPS: rc = parse_uint(optarg, 1, BENCH_SOURCE_IPS_MAX, &sips); break;
        case OPT_BURST: rc = parse_uint(optarg, 1, MAX_CONNS, &o->burst); break;
        case OPT_CONNECT_TIMEOUT: rc = parse_secs(optarg, 0.1, &o->connect_timeout_s); break;
        default: fputs(usage, stderr); return -1;
        }
        if (rc != 0) {
            fprintf(stderr, "duro-bench: bad value '%s' for -%c\n%s", optarg,
                    c < 256 ? c : '-', usage);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "duro-bench: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (parse_url(o, url) != 0) {
        return -1;
    }
    o->status = (int)status;
    o->pid = (int)pid;
    if (o->mode == MODE_BROADCAST) {
        if (o->threads != 1) {
            return bad("%s: broadcast runs on one thread (its messages are shared)", "-t");
        }
        if (o->size < BENCH_TAG_BYTES) {
            return bad("%s: broadcast messages carry a 16-byte tag: use -s 16 or more", "-s");
        }
        if (o->expect == EXPECT_SEED) {
            return bad("%s: broadcast checks delivered copies: use --expect echo or none",
                       "--expect");
        }
    }
    if (o->threads > o->conns) {
        o->threads = o->conns;
    }
    unsigned per_ip = port_range() * PORT_USE_PERCENT / 100u;
    if (sips == 0) {
        sips = (o->conns + per_ip - 1) / per_ip;
        if (sips > BENCH_SOURCE_IPS_MAX) {
            sips = BENCH_SOURCE_IPS_MAX;
        }
    }
    o->source_ips = sips;
    return 0;
}

static int raise_nofile(const struct opts *o)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        return 0;
    }
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
        (void)getrlimit(RLIMIT_NOFILE, &rl);
    }
    if ((rlim_t)o->conns + FDS_RESERVED > rl.rlim_cur) {
        fprintf(stderr,
                "duro-bench: %u connections need %u descriptors, this process may open %llu: "
                "run several duro-bench processes, or raise the hard limit (ulimit -Hn)\n",
                o->conns, o->conns + FDS_RESERVED, (unsigned long long)rl.rlim_cur);
        return -1;
    }
    return 0;
}

/* A printable pattern, so that text messages are valid UTF-8 and readable in a capture. */
static uint8_t *make_pattern(const struct opts *o)
{
    size_t n = (size_t)o->size + BENCH_PATTERN_SPREAD;
    uint8_t *p = malloc(n);
    if (p != NULL && o->json) {
        /* chat-like records: repeated keys, varying numbers and words */
        static const char *const words[] = { "alice", "bob", "carol", "dave", "hello", "room",
                                             "typing", "online", "message", "ok" };
        size_t i = 0;
        for (unsigned k = 0; i < n; k++) {
            char rec[160];
            int m = snprintf(rec, sizeof rec,
                             "{\"id\":%u,\"user\":\"%s\",\"text\":\"%s %s\",\"ts\":%u},", k,
                             words[k % 10], words[(k * 7 + 3) % 10], words[(k * 3 + 1) % 10],
                             1700000000u + k * 37u);
            for (int j = 0; j < m && i < n; j++) {
                p[i++] = (uint8_t)rec[j];
            }
        }
        return p;
    }
    if (p != NULL) {
        for (size_t i = 0; i < n; i++) {
            p[i] = (uint8_t)('a' + (i * 7u + i / 26u) % 26u);
        }
    }
    return p;
}

static double us(uint64_t ns)
{
    return (double)ns / NS_PER_US;
}

/* duro-bench slot CLASS NAME WORKERS: duro's rendezvous hash, so that a run can put objects on
 * chosen workers (bench/run.sh fills every worker with sockets this way). */
static int slot_main(int argc, char **argv)
{
    unsigned n;
    if (argc != 5 || parse_uint(argv[4], 1, UINT32_MAX, &n) != 0) {
        fprintf(stderr, "usage: duro-bench slot CLASS NAME WORKERS\n");
        return EXIT_USAGE;
    }
    uint64_t key = hash_object_key(argv[2], strlen(argv[2]), argv[3], strlen(argv[3]));
    printf("%u\n", hash_pick_slot(key, n));
    return 0;
}

int main(int argc, char **argv)
{
    static struct opts o;
    if (argc > 1 && strcmp(argv[1], "slot") == 0) {
        return slot_main(argc, argv);
    }
    int rc = parse_args(argc, argv, &o);
    if (rc != 0) {
        return rc > 0 ? 0 : EXIT_USAGE;
    }
    if (raise_nofile(&o) != 0) {
        return EXIT_USAGE;
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGALRM, on_alarm);
    double bound = o.connect_timeout_s + o.warmup_s + o.duration_s +
                   (BENCH_DRAIN_MS + 2 * BENCH_CLOSE_WAIT_MS) / 1000.0 + HARD_BOUND_SLACK_S;
    alarm((unsigned)ceil(bound));

    struct shared sh;
    memset(&sh, 0, sizeof sh);
    sh.o = &o;
    sh.pattern = make_pattern(&o);
    struct tctx *ts = calloc(o.threads, sizeof *ts);
    if (sh.pattern == NULL || ts == NULL) {
        fprintf(stderr, "duro-bench: out of memory\n");
        return EXIT_FAILED;
    }
    if (o.mode == MODE_IDLE && o.pid > 0) {
        sh.rss_before = procrss_tree(o.pid, NULL);
        if (sh.rss_before < 0) {
            fprintf(stderr, "duro-bench: --pid %d: no such process\n", o.pid);
            return EXIT_USAGE;
        }
    }
    if (!o.quiet) {
        fprintf(stderr,
                "duro-bench: %s %s conns=%u inflight=%u size=%u duration=%.1fs warmup=%.1fs "
                "threads=%u source_ips=%u\n",
                argv[1], o.url, o.conns, o.inflight, o.size, o.duration_s, o.warmup_s, o.threads,
                o.source_ips);
    }
    unsigned first = 0;
    for (unsigned i = 0; i < o.threads; i++) {
        struct tctx *t = &ts[i];
        t->sh = &sh;
        t->o = &o;
        t->index = i;
        t->nconns = o.conns / o.threads + (i < o.conns % o.threads ? 1u : 0u);
        if (mode_thread_init(t) != 0) {
            fprintf(stderr, "duro-bench: out of memory\n");
            return EXIT_FAILED;
        }
        for (unsigned k = 0; k < t->nconns; k++) {
            t->conns[k].id = first + k;
        }
        first += t->nconns;
    }
    for (unsigned i = 0; i < o.threads; i++) {
        if (pthread_create(&ts[i].thread, NULL, mode_thread_main, &ts[i]) != 0) {
            fprintf(stderr, "duro-bench: cannot start thread %u\n", i);
            return EXIT_FAILED;
        }
    }
    static struct hist hist, hs_hist;
    uint64_t counted = 0, errors = 0, verify = 0, handshakes = 0, bcasts = 0, deliveries = 0;
    uint64_t wire_in = 0, wire_out = 0, msgs_in = 0, msgs_out = 0;
    for (unsigned i = 0; i < o.threads; i++) {
        pthread_join(ts[i].thread, NULL);
        hist_merge(&hist, &ts[i].hist);
        hist_merge(&hs_hist, &ts[i].hs_hist);
        counted += ts[i].counted;
        errors += ts[i].errors;
        verify += ts[i].verify_failures;
        handshakes += ts[i].handshakes;
        bcasts += ts[i].bcast_done;
        deliveries += ts[i].deliveries;
        wire_in += ts[i].wire_in;
        wire_out += ts[i].wire_out;
        msgs_in += ts[i].msgs_in;
        msgs_out += ts[i].msgs_out;
        mode_thread_free(&ts[i]);
    }
    alarm(0);
    unsigned established = atomic_load(&sh.established);
    const struct hist *h = o.mode == MODE_IDLE ? &hs_hist : &hist;
    double rate = (double)counted / o.duration_s;
    static const char *const rate_key[] = { "msgs_per_s", "handshakes_per_s", "handshakes_per_s",
                                            "req_per_s", "msgs_per_s" };
    if (o.mode == MODE_IDLE) {
        rate = 0; /* handshakes/s while opening is not a rate of a steady load */
    }
    double p50 = us(hist_quantile(h, 0.50)), p90 = us(hist_quantile(h, 0.90));
    double p99 = us(hist_quantile(h, 0.99)), pmax = us(h->max);

    printf("mode=%s url=%s conns=%u established=%u inflight=%u size=%u duration=%.1fs\n",
           argv[1], o.url, o.conns, o.mode == MODE_CONNECT ? o.conns : established, o.inflight,
           o.size, o.duration_s);
    if (o.mode != MODE_IDLE) {
        printf("%s=%.0f samples=%llu\n", rate_key[o.mode], rate, (unsigned long long)counted);
    }
    printf("latency_us p50=%.1f p90=%.1f p99=%.1f max=%.1f (%s)\n", p50, p90, p99, pmax,
           o.mode == MODE_IDLE        ? "upgrade"
           : o.mode == MODE_CONNECT   ? "connect to 101"
           : o.mode == MODE_BROADCAST ? "send to each delivery"
                                      : "round trip");
    printf("errors=%llu verify_failures=%llu\n", (unsigned long long)errors,
           (unsigned long long)verify);
    /* frame bytes (header + payload) per data message, over the whole run */
    double win = msgs_in ? (double)wire_in / (double)msgs_in : 0;
    double wout = msgs_out ? (double)wire_out / (double)msgs_out : 0;
    if (o.mode == MODE_ECHO || o.mode == MODE_BROADCAST) {
        printf("wire_bytes_per_msg in=%.1f out=%.1f deflate=%s\n", win, wout,
               o.deflate ? "offered" : "no");
    }

    char extra[512] = "";
    if (o.mode == MODE_IDLE) {
        double per = 0;
        if (o.pid > 0 && established > 0 && sh.rss_after >= 0) {
            per = (double)(sh.rss_after - sh.rss_before) / established;
        }
        printf("rss_before=%lld rss_after=%lld processes=%u bytes_per_socket=%.0f "
               "deliveries=%llu\n",
               (long long)sh.rss_before, (long long)sh.rss_after, sh.rss_procs, per,
               (unsigned long long)deliveries);
        snprintf(extra, sizeof extra,
                 ",\"established\":%u,\"pid\":%d,\"rss_before\":%lld,\"rss_after\":%lld,"
                 "\"bytes_per_socket\":%.0f,\"deliveries\":%llu",
                 established, o.pid, (long long)sh.rss_before, (long long)sh.rss_after, per,
                 (unsigned long long)deliveries);
    } else if (o.mode == MODE_BROADCAST) {
        snprintf(extra, sizeof extra,
                 ",\"established\":%u,\"broadcasts\":%llu,\"deliveries\":%llu,"
                 "\"msgs_in\":%llu,\"msgs_out\":%llu,\"wire_in_per_msg\":%.1f,"
                 "\"wire_out_per_msg\":%.1f",
                 established, (unsigned long long)bcasts, (unsigned long long)deliveries,
                 (unsigned long long)msgs_in, (unsigned long long)msgs_out, win, wout);
    } else if (o.mode == MODE_CONNECT) {
        snprintf(extra, sizeof extra, ",\"handshakes\":%llu", (unsigned long long)handshakes);
    } else {
        snprintf(extra, sizeof extra, ",\"established\":%u,\"msgs_in\":%llu,\"msgs_out\":%llu,"
                 "\"wire_in_per_msg\":%.1f,\"wire_out_per_msg\":%.1f", established,
                 (unsigned long long)msgs_in, (unsigned long long)msgs_out, win, wout);
    }
    printf("{\"mode\":\"%s\",\"conns\":%u,\"inflight\":%u,\"size\":%u,\"threads\":%u,"
           "\"duration_s\":%.3f,",
           argv[1], o.conns, o.inflight, o.size, o.threads, o.duration_s);
    if (o.mode != MODE_IDLE) {
        printf("\"%s\":%.0f,", rate_key[o.mode], rate);
    }
    printf("\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f,\"samples\":%llu,"
           "\"errors\":%llu,\"verify_failures\":%llu%s}\n",
           p50, p90, p99, pmax, (unsigned long long)h->count, (unsigned long long)errors,
           (unsigned long long)verify, extra);
    free((void *)sh.pattern);
    free(ts);
    return errors > 0 || verify > 0 ? EXIT_FAILED : 0;
}
