using Alpa.Kernels;
using Alpa.Kernels.Cuda;

namespace Alpa.Silo.Selftest;

/// <summary>Outcome of one collective check.</summary>
/// <param name="Name">e.g. <c>all_reduce/f32</c>.</param>
/// <param name="Passed">The result matched (a single rank returns its own data).</param>
/// <param name="Skipped">NCCL could not be loaded; <paramref name="Message"/> says why.</param>
/// <param name="Message">Why it failed or was skipped, else null.</param>
public sealed record CollectiveResult(string Name, bool Passed, bool Skipped, string? Message);

/// <summary>
/// The NCCL bindings on a single-rank communicator: all-reduce, all-gather, reduce-scatter and the
/// grouped send/recv all-to-all each return the rank's own data. Checks the calls, data types and
/// counts on one GPU; multi-GPU correctness needs several ranks.
/// </summary>
public static class NcclSelftest
{
    public static IReadOnlyList<CollectiveResult> Run(CudaDevice device)
    {
        Alpa.Kernels.Cuda.Native.NcclUniqueId id;
        try
        {
            id = NcclCommunicator.NewUniqueId();
        }
        catch (NativeLibraryException e)
        {
            return [new CollectiveResult("nccl", Passed: false, Skipped: true, e.Message)];
        }
        NcclCommunicator comm;
        try
        {
            comm = new NcclCommunicator(device, 1, id, 0);
        }
        catch (KernelException e)
        {
            return [new CollectiveResult("comm_init_rank", Passed: false, Skipped: false, e.Message)];
        }
        using var _ = comm;
        var results = new List<CollectiveResult>();
        foreach (var type in new[] { ElementType.F32, ElementType.BF16 })
        {
            results.Add(Check(device, type, "all_reduce", comm.AllReduce));
            results.Add(Check(device, type, "all_gather", comm.AllGather));
            results.Add(Check(device, type, "reduce_scatter", comm.ReduceScatter));
            results.Add(Check(device, type, "all_to_all", comm.AllToAll));
        }
        return results;
    }

    private static CollectiveResult Check(CudaDevice device, ElementType type, string name, Action<Tensor, Tensor> collective)
    {
        var label = $"{name}/{(type == ElementType.F32 ? "f32" : "bf16")}";
        var rng = new Random(7);
        var values = Enumerable.Range(0, 64).Select(_ => CudaStorage.FromBf16(CudaStorage.ToBf16((float)(rng.NextDouble() * 2 - 1)))).ToArray();
        try
        {
            using var send = device.Upload(HostTensor.FromFloats(type, values, 64));
            using var recv = device.Allocate(type, [64]);
            collective(send, recv);
            device.Synchronize();
            var got = device.CopyToHost(recv).Floats!;
            return got.SequenceEqual(values)
                ? new CollectiveResult(label, true, false, null)
                : new CollectiveResult(label, false, false, "a single rank must get its own data back");
        }
        catch (KernelException e)
        {
            return new CollectiveResult(label, false, false, e.Message);
        }
    }
}
