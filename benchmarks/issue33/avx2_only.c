/* An AVX-512 CPU that tells a process it has AVX2 only (issue 33's AVX2 VMs, emulated).

   ONNX Runtime's MLAS, oneDNN, MKL and PyTorch's cpuinfo choose their kernels from
   the CPUID instruction; none of them (ORT 1.32) can be told to stop at AVX2. On a
   CPU with CPUID faulting (`cpuid_fault` in /proc/cpuinfo) Linux makes CPUID trap
   (arch_prctl ARCH_SET_CPUID, 0); this library, preloaded, answers each trapped
   CPUID with the real one minus the AVX-512 bits (and AVX-VNNI, which the issue's
   AVX2 EPYCs lack), so every library picks the kernels it would pick on an AVX2 CPU.

       cc -O2 -shared -fPIC -o avx2_only.so avx2_only.c
       LD_PRELOAD=$PWD/avx2_only.so python ...

   The setting is inherited by threads and forked children and cleared by execve; the
   preload re-arms it in every exec'd child (LD_PRELOAD is in its environment).
   glibc's own string functions were chosen before any constructor runs and keep
   their AVX-512 variants; /proc/cpuinfo still lists the real flags. At exit it
   writes how many CPUIDs it answered to stderr when AVX2_ONLY_VERBOSE is set. */
#define _GNU_SOURCE
#include <asm/prctl.h>
#include <cpuid.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

/* leaf 7, subleaf 0 */
#define EBX_AVX512 ((1u << 16) | (1u << 17) | (1u << 21) | (1u << 26) | (1u << 27) | \
                    (1u << 28) | (1u << 30) | (1u << 31)) /* F DQ IFMA PF ER CD BW VL */
#define ECX_AVX512 ((1u << 1) | (1u << 6) | (1u << 11) | (1u << 12) | (1u << 14))
                   /* VBMI VBMI2 VNNI BITALG VPOPCNTDQ */
#define EDX_AVX512 ((1u << 2) | (1u << 3) | (1u << 8) | (1u << 23))
                   /* 4VNNIW 4FMAPS VP2INTERSECT FP16 */
/* leaf 7, subleaf 1 */
#define EAX1_MASKED ((1u << 4) | (1u << 5)) /* AVX-VNNI, AVX512_BF16 */

static volatile unsigned long answered;

static void on_segv(int sig, siginfo_t *info, void *context) {
    (void)info;
    ucontext_t *uc = context;
    greg_t *g = uc->uc_mcontext.gregs;
    const unsigned char *ip = (const unsigned char *)g[REG_RIP];
    if (ip == NULL || ip[0] != 0x0f || ip[1] != 0xa2) { /* a real fault */
        signal(sig, SIG_DFL);
        return; /* the instruction faults again, now fatally */
    }
    unsigned leaf = (unsigned)g[REG_RAX], sub = (unsigned)g[REG_RCX];
    unsigned a, b, c, d;
    syscall(SYS_arch_prctl, ARCH_SET_CPUID, 1);
    __cpuid_count(leaf, sub, a, b, c, d);
    syscall(SYS_arch_prctl, ARCH_SET_CPUID, 0);
    if (leaf == 7 && sub == 0) {
        b &= ~EBX_AVX512;
        c &= ~ECX_AVX512;
        d &= ~EDX_AVX512;
    } else if (leaf == 7 && sub == 1) {
        a &= ~EAX1_MASKED;
    }
    g[REG_RAX] = a;
    g[REG_RBX] = b;
    g[REG_RCX] = c;
    g[REG_RDX] = d;
    g[REG_RIP] += 2;
    answered++;
}

static void report(void) {
    if (getenv("AVX2_ONLY_VERBOSE"))
        fprintf(stderr, "avx2_only: %lu CPUID answered without AVX-512 (pid %d)\n",
                answered, (int)getpid());
}

__attribute__((constructor)) static void avx2_only(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGSEGV, &sa, NULL) != 0 ||
        syscall(SYS_arch_prctl, ARCH_SET_CPUID, 0) != 0) {
        fprintf(stderr, "avx2_only: this CPU or kernel cannot trap CPUID "
                "(no cpuid_fault); nothing is emulated\n");
        exit(3);
    }
    atexit(report);
}
