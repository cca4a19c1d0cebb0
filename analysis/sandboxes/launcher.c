/*
 * sandgate-launch: the few steps between the worker and bubblewrap, in a process of its own.
 *
 *   sandgate-launch --status-fd N [--stage SRC DST]... [--cgroup FILE]...
 *                   [--rlimit RESOURCE SOFT HARD]... [--uid UID] -- /usr/bin/bwrap ARGS...
 *
 * In order: bind the staged paths inside a private mount namespace (only when the worker is root and
 * the runtime sits where the sandbox uid cannot reach, e.g. pyenv under /root), join the run's cgroups,
 * set the rlimits, drop to the run's uid, then start bwrap as a child and stay as the run's reaper.
 * Nothing here parses untrusted input: the worker builds the argument list.
 *
 * Why a reaper: with --unshare-pid, bwrap's outer process exits as soon as its pid-1 process reports the
 * exit code, without waiting for it. That pid 1 is then orphaned to whatever reaps orphans on the host:
 * a slow init leaves it a zombie for a while (seen here), and a worker that is itself pid 1 of a
 * container never reaps it. Each zombie still counts against the run uid's RLIMIT_NPROC (and holds the
 * cgroup busy), so a worker thread's runs failed ("Can't fork for pid 1") after ~max_processes runs.
 * As a child subreaper this process inherits such orphans and exits only once every process of the run
 * has been reaped, with bwrap's own exit status (or by bwrap's own signal).
 *
 * Why C and not a Python preexec_fn: the worker is a large Python process. Python must fork() it (page
 * tables copied, then torn down at exec) to run a preexec_fn, about 9 ms per run here; this program is
 * started with vfork (posix_spawn) and costs well under a millisecond. Built by `make install`.
 *
 * The status fd is close-on-exec: EOF on it means bwrap was exec-ed; otherwise the one line written to it
 * says which step failed, and the worker raises it. The reaper keeps no copy of any descriptor: EOF on
 * the sandbox's output pipes still means the sandbox is done.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static int status_fd = -1;

static void fail(const char *step, const char *what) {
    char line[512];
    int n = snprintf(line, sizeof line, "sandgate-launch: %s %s: %s\n", step, what ? what : "", strerror(errno));
    if (status_fd >= 0 && n > 0) {
        ssize_t ignored = write(status_fd, line, (size_t)n);
        (void)ignored;
    }
    _exit(125);
}

static long number(const char *text) {
    char *end;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (errno || *end || end == text) {
        errno = EINVAL;
        fail("number", text);
    }
    return value;
}

static int staged_private = 0;

static void stage(const char *source, const char *mount_point) {
    if (!staged_private) {
        if (unshare(CLONE_NEWNS) != 0) fail("unshare", "CLONE_NEWNS");
        /* Private first, so that nothing below propagates back into the host's mount table. */
        if (mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) fail("mount", "/ private");
        staged_private = 1;
    }
    if (mount(source, mount_point, NULL, MS_BIND, NULL) != 0) fail("bind", source);
}

static void join_cgroup(const char *path) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) fail("open", path);
    /* "0" is the writer itself: this process has a single thread (see cgroups.py). */
    if (write(fd, "0", 1) != 1) fail("join", path);
    close(fd);
}

static void set_limit(const char *resource, const char *soft, const char *hard) {
    struct rlimit limit = {(rlim_t)number(soft), (rlim_t)number(hard)};
    if (setrlimit((int)number(resource), &limit) != 0) fail("setrlimit", resource);
}

static void become(const char *uid_text) {
    uid_t uid = (uid_t)number(uid_text);
    if (setgroups(0, NULL) != 0) fail("setgroups", uid_text);
    if (setgid(uid) != 0) fail("setgid", uid_text);
    if (setuid(uid) != 0) fail("setuid", uid_text);
}

/* Wait until every process of the run is gone (bwrap and, inherited as subreaper, its orphans), then
 * end the way bwrap ended: the worker reads the run's fate from this process's status. */
static void reap_all_then_end_like(pid_t bwrap) {
    int bwrap_status = 125 << 8, status;
    for (;;) {
        pid_t pid = waitpid(-1, &status, 0);
        if (pid == bwrap) bwrap_status = status;
        if (pid < 0 && errno != EINTR) break; /* ECHILD: nothing of the run is left */
    }
    if (WIFSIGNALED(bwrap_status)) {
        signal(WTERMSIG(bwrap_status), SIG_DFL);
        raise(WTERMSIG(bwrap_status)); /* RLIMIT_CORE is 0: no core file */
    }
    _exit(WIFEXITED(bwrap_status) ? WEXITSTATUS(bwrap_status) : 125);
}

int main(int argc, char **argv) {
    const pid_t worker = getppid();
    const char *uid = NULL;
    int i = 1;
    for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (!strcmp(argv[i], "--status-fd") && i + 1 < argc) {
            status_fd = (int)number(argv[++i]);
            if (fcntl(status_fd, F_SETFD, FD_CLOEXEC) != 0) fail("fcntl", "status fd");
        } else if (!strcmp(argv[i], "--stage") && i + 2 < argc) {
            stage(argv[i + 1], argv[i + 2]);
            i += 2;
        } else if (!strcmp(argv[i], "--cgroup") && i + 1 < argc) {
            join_cgroup(argv[++i]);
        } else if (!strcmp(argv[i], "--rlimit") && i + 3 < argc) {
            set_limit(argv[i + 1], argv[i + 2], argv[i + 3]);
            i += 3;
        } else if (!strcmp(argv[i], "--uid") && i + 1 < argc) {
            uid = argv[++i];
        } else {
            errno = EINVAL;
            fail("argument", argv[i]);
        }
    }
    if (i + 1 >= argc) {
        errno = EINVAL;
        fail("argument", "no command after --");
    }
    if (uid) become(uid); /* last: staging and cgroups need root, rlimits may be lowered by anyone */
    /* After the uid change, which clears it: the reaper dies with the worker, and bwrap
     * (--die-with-parent) with the reaper. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) fail("prctl", "PR_SET_PDEATHSIG");
    if (getppid() != worker) _exit(125); /* the worker died before that */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) fail("prctl", "PR_SET_CHILD_SUBREAPER");
    pid_t bwrap = fork();
    if (bwrap < 0) fail("fork", argv[i + 1]);
    if (bwrap == 0) {
        execv(argv[i + 1], &argv[i + 1]);
        fail("exec", argv[i + 1]);
    }
    close_range(0, ~0U, 0); /* pipes, status fd: only bwrap and the sandbox hold them now */
    reap_all_then_end_like(bwrap);
    return 125;
}
