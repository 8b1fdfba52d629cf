using System.Collections.Concurrent;
using System.Diagnostics;
using System.Reflection;
using System.Runtime.ExceptionServices;
using Alpa.Client.Contracts;
using Alpa.Client.Transport;
using Microsoft.Extensions.DependencyInjection;
using Serilog.Context;

namespace Alpa.Silo.Hosting;

/// <summary>What an activation knows about itself: its key and the silo it runs on.</summary>
public sealed record GrainActivationContext(string Key, string Silo);

/// <summary>
/// An activation that can describe its state for the dashboard's grain page (a MeshWorker: its
/// buffers and instruction list; a Driver: its current step and schedule). The result is serialized as JSON.
/// </summary>
public interface IGrainStateReporter
{
    object DescribeState();
}

/// <summary>The grain classes this silo can activate, by interface name.</summary>
public sealed class GrainRegistry
{
    private readonly Dictionary<string, (GrainInterfaceInfo Info, Type Implementation)> _grains = new(StringComparer.Ordinal);

    /// <summary>Registers <typeparamref name="TImplementation"/> as the class behind <typeparamref name="TInterface"/>.</summary>
    public GrainRegistry Add<TInterface, TImplementation>()
        where TInterface : class, IGrain
        where TImplementation : class, TInterface
    {
        var info = GrainInterfaceInfo.For(typeof(TInterface));
        if (!_grains.TryAdd(info.Name, (info, typeof(TImplementation))))
        {
            throw new GrainContractException($"two grain interfaces are named {info.Name}; grain interface names must be unique");
        }
        return this;
    }

    public bool TryGet(string name, out GrainInterfaceInfo info, out Type implementation)
    {
        var found = _grains.TryGetValue(name, out var entry);
        (info, implementation) = found ? entry : (null!, null!);
        return found;
    }
}

/// <summary>
/// The activations living on this silo, created on first call. Unless its interface is
/// <see cref="ReentrantGrainAttribute">reentrant</see>, an activation runs one call at a time.
/// Records the per-method counters and pushes the <c>grain</c> log property around each call.
/// </summary>
public sealed class GrainCatalog(IServiceProvider services, GrainRegistry registry, SiloIdentity self, GrainMetrics metrics)
{
    private readonly ConcurrentDictionary<(string Grain, string Key), Activation> _activations = new();

    public bool Contains(string grain, string key) => _activations.ContainsKey((grain, key));

    /// <summary>The activations on this silo: grain interface name, key and the grain object.</summary>
    public IReadOnlyList<(string Grain, string Key, object Instance)> Activations() =>
        [.. _activations.Select(p => (p.Key.Grain, p.Key.Key, p.Value.Instance))];

    public async Task<object?> InvokeAsync(GrainCall call, object? request, CancellationToken cancellationToken)
    {
        var activation = _activations.GetOrAdd((call.Grain.Name, call.Key), k => Activate(call));
        var counters = metrics.For(call.Grain.Name, call.Method.Name);
        var start = Stopwatch.GetTimestamp();
        var failed = true;
        using var grainProperty = LogContext.PushProperty("grain", $"{call.Grain.Name}/{call.Key}");
        var gate = call.Grain.Reentrant ? null : activation.Gate;
        if (gate is not null)
        {
            await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        try
        {
            var result = await InvokeMethodAsync(activation.Instance, call.Method, request, cancellationToken).ConfigureAwait(false);
            failed = false;
            return result;
        }
        finally
        {
            gate?.Release();
            counters.Record(start, failed);
        }
    }

    private static async Task<object?> InvokeMethodAsync(object instance, GrainMethodInfo method, object? request, CancellationToken token)
    {
        var args = new object?[method.ParameterCount];
        if (method.RequestType is not null)
        {
            args[0] = request;
        }
        if (method.HasCancellation)
        {
            args[^1] = token;
        }
        Task task;
        try
        {
            task = (Task)method.Method.Invoke(instance, BindingFlags.DoNotWrapExceptions, null, args, null)!;
        }
        catch (TargetInvocationException e) when (e.InnerException is not null)
        {
            ExceptionDispatchInfo.Throw(e.InnerException);
            throw;
        }
        await task.ConfigureAwait(false);
        return method.ResultOf(task);
    }

    private Activation Activate(GrainCall call)
    {
        if (!registry.TryGet(call.Grain.Name, out _, out var implementation))
        {
            throw new GrainCallException(GrainErrorKind.NotFound, $"silo {self.Address} has no implementation of {call.Grain.Name}");
        }
        var context = new GrainActivationContext(call.Key, self.Address);
        var wantsContext = implementation.GetConstructors().Any(c => c.GetParameters().Any(p => p.ParameterType == typeof(GrainActivationContext)));
        return new Activation(wantsContext
            ? ActivatorUtilities.CreateInstance(services, implementation, context)
            : ActivatorUtilities.CreateInstance(services, implementation));
    }

    private sealed class Activation(object instance)
    {
        public object Instance { get; } = instance;
        public SemaphoreSlim Gate { get; } = new(1, 1);
    }
}

/// <summary>
/// Routes every grain call made on this silo (incoming or from grain code): to the local catalog
/// when the grain lives here, else over the transport to the silo that hosts it. This is the
/// silo's <see cref="IGrainCallSink"/>; grain code sees only <see cref="IGrainFactory"/>.
/// </summary>
public sealed class GrainDispatcher(
    SiloIdentity self, GrainCatalog catalog, GrainDirectory directory, Transport.SiloConnectionPool connections) : IGrainCallSink
{
    /// <summary>Calls forwarded this many times are run where they land (no routing loops).</summary>
    public const int MaxHops = 2;

    public Task<object?> InvokeAsync(GrainCall call, object? request, CancellationToken cancellationToken) =>
        InvokeAsync(call, request, hops: 0, cancellationToken);

    public async Task<object?> InvokeAsync(GrainCall call, object? request, int hops, CancellationToken cancellationToken)
    {
        var target = await LocateAsync(call, hops, cancellationToken).ConfigureAwait(false);
        if (target == self.Address)
        {
            return await catalog.InvokeAsync(call, request, cancellationToken).ConfigureAwait(false);
        }
        return await connections.Get(target).CallAsync(call, request, hops + 1, cancellationToken).ConfigureAwait(false);
    }

    private async ValueTask<string> LocateAsync(GrainCall call, int hops, CancellationToken token)
    {
        if (call.Grain.Placement == GrainPlacement.SiloKeyed)
        {
            return call.Key == GrainKeys.Gateway ? self.Address : call.Key;
        }
        if (hops >= MaxHops || (hops > 0 && catalog.Contains(call.Grain.Name, call.Key)))
        {
            return self.Address;
        }
        if (call.Grain.Placement != GrainPlacement.PreferLocal)
        {
            return (await directory.LocateAsync(call.Grain.Name, call.Key, token).ConfigureAwait(false)).Silo;
        }
        if (catalog.Contains(call.Grain.Name, call.Key))
        {
            return self.Address;
        }
        try
        {
            return (await directory.LocateAsync(call.Grain.Name, call.Key, token, preferLocal: true).ConfigureAwait(false)).Silo;
        }
        catch (SiloUnavailableException) when (!token.IsCancellationRequested)
        {
            // The directory owner died and membership does not know yet: a new job's driver must not wait for that.
            return self.Address;
        }
    }
}
