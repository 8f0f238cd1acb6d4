"""The CPU description every benchmark figure carries (issue 33)."""
from creme_fast.machine import cpu_info, describe_cpu, steal_ticks

SMT_AVX2 = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 1
model name\t: AMD EPYC 7763 64-Core Processor
siblings\t: 2
cpu cores\t: 1
flags\t\t: fpu sse2 avx avx2 fma f16c hypervisor bmi2

processor\t: 1
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7763 64-Core Processor
siblings\t: 2
cpu cores\t: 1
flags\t\t: fpu sse2 avx avx2 fma f16c hypervisor bmi2
"""


def test_an_smt_avx2_vm_is_described_with_its_topology_and_missing_avx512(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text(SMT_AVX2)
    info = cpu_info(path)
    assert info.model == "AMD EPYC 7763 64-Core Processor"
    assert (info.family, info.model_number) == ("25", "1")
    assert info.threads_per_core == 2 and info.virtual
    assert info.flags == ("AVX2", "FMA", "F16C")
    line = describe_cpu(info)
    assert "family 25 model 1" in line and "x 2 threads" in line and "VM" in line
    assert "AVX2 FMA F16C; no AVX-512" in line
    assert info.as_dict()["summary"] == line


def test_avx512_flags_are_named(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text(SMT_AVX2.replace("bmi2", "avx512f avx512_vnni avx512_bf16 amx_tile")
                    .replace("siblings\t: 2", "siblings\t: 1"))
    info = cpu_info(path)
    assert info.flags == ("AVX2", "FMA", "F16C", "AVX-512F", "AVX-512 VNNI", "AVX-512 BF16",
                          "AMX")
    assert info.threads_per_core == 1
    assert "no AVX-512" not in describe_cpu(info) and "1 thread per core" in describe_cpu(info)


def test_without_cpuinfo_the_platform_is_named(tmp_path):
    info = cpu_info(tmp_path / "missing")
    assert info.model and info.flags == () and info.logical_cpus >= 1
    assert "no AVX2" in describe_cpu(info)


def test_steal_ticks_reads_the_cpu_line(tmp_path):
    stat = tmp_path / "stat"
    stat.write_text("cpu  100 0 50 800 10 0 5 35 0 0\ncpu0 50 0 25 400 5 0 2 18 0 0\n")
    assert steal_ticks(stat) == (35, 1000)
    stat.write_text("intr 1 2 3\n")
    assert steal_ticks(stat) is None
    assert steal_ticks(tmp_path / "missing") is None


def test_this_machine_is_described():
    line = describe_cpu()
    assert line and "CPUs" in line
