using System.Collections.Concurrent;
using System.Reflection;
using Alpa.Client.Contracts;
using Alpa.Planner;

namespace Alpa.Client.Transport;

/// <summary>The checked shape of a grain interface: its name on the wire, placement and methods.</summary>
public sealed class GrainInterfaceInfo
{
    private static readonly ConcurrentDictionary<Type, GrainInterfaceInfo> Cache = new();

    private GrainInterfaceInfo(Type type)
    {
        Interface = type;
        Name = type.Name;
        Placement = type.GetCustomAttribute<GrainPlacementAttribute>()?.Placement ?? GrainPlacement.AnyLiveSilo;
        Reentrant = type.GetCustomAttribute<ReentrantGrainAttribute>() is not null;
        var methods = type.GetMethods().Select(m => new GrainMethodInfo(type, m)).ToList();
        var duplicate = methods.GroupBy(m => m.Name).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
        {
            throw new GrainContractException($"{type.Name}.{duplicate.Key} is overloaded; give each grain method a distinct name");
        }
        Methods = methods.ToDictionary(m => m.Name, StringComparer.Ordinal);
        ByMethodInfo = methods.ToDictionary(m => m.Method);
    }

    /// <summary>The interface type.</summary>
    public Type Interface { get; }
    /// <summary>Name on the wire: the interface's simple name (unique across contracts).</summary>
    public string Name { get; }
    public GrainPlacement Placement { get; }
    public bool Reentrant { get; }
    public IReadOnlyDictionary<string, GrainMethodInfo> Methods { get; }
    internal IReadOnlyDictionary<MethodInfo, GrainMethodInfo> ByMethodInfo { get; }

    /// <summary>The (cached) description of <paramref name="type"/>; throws <see cref="GrainContractException"/> when it is not a valid grain interface.</summary>
    public static GrainInterfaceInfo For(Type type)
    {
        if (!type.IsInterface || !typeof(IGrain).IsAssignableFrom(type) || type == typeof(IGrain))
        {
            throw new GrainContractException($"{type.Name} is not a grain interface; declare an interface deriving from IGrain");
        }
        return Cache.GetOrAdd(type, t => new GrainInterfaceInfo(t));
    }
}

/// <summary>One grain method: its request type (or none), cancellation parameter and result type (or none).</summary>
public sealed class GrainMethodInfo
{
    private readonly Func<Task<object?>, Task> _adapt;
    private readonly Func<Task, object?> _result;

    internal GrainMethodInfo(Type grain, MethodInfo method)
    {
        Method = method;
        Name = method.Name;
        var parameters = method.GetParameters();
        var rest = parameters;
        if (parameters.Length > 0 && parameters[^1].ParameterType == typeof(CancellationToken))
        {
            HasCancellation = true;
            rest = parameters[..^1];
        }
        if (rest.Length > 1)
        {
            throw new GrainContractException(
                $"{grain.Name}.{method.Name} takes {rest.Length} arguments; a grain method takes one message record (and a CancellationToken)");
        }
        RequestType = rest.Length == 1 ? rest[0].ParameterType : null;
        ParameterCount = parameters.Length;
        if (method.ReturnType == typeof(Task))
        {
            ResultType = null;
            _adapt = t => t;
            _result = _ => null;
        }
        else if (method.ReturnType.IsGenericType && method.ReturnType.GetGenericTypeDefinition() == typeof(Task<>))
        {
            ResultType = method.ReturnType.GetGenericArguments()[0];
            _adapt = typeof(GrainMethodInfo).GetMethod(nameof(Cast), BindingFlags.NonPublic | BindingFlags.Static)!
                .MakeGenericMethod(ResultType).CreateDelegate<Func<Task<object?>, Task>>();
            _result = typeof(GrainMethodInfo).GetMethod(nameof(Result), BindingFlags.NonPublic | BindingFlags.Static)!
                .MakeGenericMethod(ResultType).CreateDelegate<Func<Task, object?>>();
        }
        else
        {
            throw new GrainContractException($"{grain.Name}.{method.Name} returns {method.ReturnType.Name}; grain methods return Task or Task<T>");
        }
    }

    public MethodInfo Method { get; }
    public string Name { get; }
    /// <summary>Type of the message argument, or null for a method without one.</summary>
    public Type? RequestType { get; }
    /// <summary>Whether the last parameter is a <see cref="CancellationToken"/>.</summary>
    public bool HasCancellation { get; }
    /// <summary>Number of parameters of the method.</summary>
    public int ParameterCount { get; }
    /// <summary>Type of the result, or null for a plain <see cref="Task"/>.</summary>
    public Type? ResultType { get; }

    /// <summary>Turns an untyped result task into the method's declared return type.</summary>
    public Task Adapt(Task<object?> task) => _adapt(task);

    /// <summary>Reads the result of a completed task returned by this method (null for a plain Task).</summary>
    public object? ResultOf(Task task) => _result(task);

    private static async Task<T> Cast<T>(Task<object?> task) => (T)(await task.ConfigureAwait(false))!;

    private static object? Result<T>(Task task) => ((Task<T>)task).Result;
}
