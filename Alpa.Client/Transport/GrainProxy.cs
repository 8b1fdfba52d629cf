using System.Reflection;
using Alpa.Client.Contracts;

namespace Alpa.Client.Transport;

/// <summary>A call to one method of one grain.</summary>
public sealed record GrainCall(GrainInterfaceInfo Grain, string Key, GrainMethodInfo Method)
{
    public override string ToString() => $"{Grain.Name}/{Key}.{Method.Name}";
}

/// <summary>Where grain proxies send their calls: over HTTP/2 (client) or through the silo's dispatcher.</summary>
public interface IGrainCallSink
{
    Task<object?> InvokeAsync(GrainCall call, object? request, CancellationToken cancellationToken);
}

/// <summary>Hands out grain references: typed proxies whose calls go to a <see cref="IGrainCallSink"/>.</summary>
public interface IGrainFactory
{
    T GetGrain<T>(string key) where T : class, IGrain;
}

/// <summary>The proxy behind every grain reference (generated at run time by <see cref="DispatchProxy"/>).</summary>
public class GrainProxy : DispatchProxy
{
    private IGrainCallSink? _sink;
    private GrainInterfaceInfo? _info;
    private string _key = "";

    /// <summary>Creates a reference to grain <typeparamref name="T"/>/<paramref name="key"/>.</summary>
    public static T Create<T>(IGrainCallSink sink, string key) where T : class, IGrain
    {
        var proxy = DispatchProxy.Create<T, GrainProxy>();
        var self = (GrainProxy)(object)proxy;
        self._sink = sink;
        self._info = GrainInterfaceInfo.For(typeof(T));
        self._key = key;
        return proxy;
    }

    protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
    {
        ArgumentNullException.ThrowIfNull(targetMethod);
        var method = _info!.ByMethodInfo[targetMethod];
        args ??= [];
        var request = method.RequestType is null ? null : args[0];
        var token = method.HasCancellation ? (CancellationToken)args[^1]! : default;
        return method.Adapt(_sink!.InvokeAsync(new GrainCall(_info, _key, method), request, token));
    }
}

/// <summary>A <see cref="IGrainFactory"/> over one sink.</summary>
public sealed class GrainFactory(IGrainCallSink sink) : IGrainFactory
{
    public T GetGrain<T>(string key) where T : class, IGrain => GrainProxy.Create<T>(sink, key);
}
