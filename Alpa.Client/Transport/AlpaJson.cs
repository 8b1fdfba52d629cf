using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Alpa.Client.Contracts;
using Alpa.Client.Membership;

namespace Alpa.Client.Transport;

/// <summary>
/// Wire format of grain messages: System.Text.Json, camelCase, with source-generated metadata for
/// the contracts below (no reflection on the hot path, trimming-safe). A message type not listed
/// here still works through the reflection resolver that follows it; list new contracts here.
/// JSON was chosen over protobuf because messages are records (no .proto files, no codegen
/// step), grain calls are small, and the dashboard and `--json` outputs reuse the same shapes;
/// tensors never travel as JSON (they use the binary data plane).
/// </summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, UseStringEnumConverter = true, NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals)]
[JsonSerializable(typeof(SiloInfo))]
[JsonSerializable(typeof(PingRequest))]
[JsonSerializable(typeof(PingReply))]
[JsonSerializable(typeof(EchoRequest))]
[JsonSerializable(typeof(EchoReply))]
[JsonSerializable(typeof(LinkProbeRequest))]
[JsonSerializable(typeof(LinkProbeReply))]
[JsonSerializable(typeof(GrainMetricsReport))]
[JsonSerializable(typeof(MembershipSnapshot))]
[JsonSerializable(typeof(MembershipWrite))]
[JsonSerializable(typeof(MembershipWriteReply))]
[JsonSerializable(typeof(HeartbeatRequest))]
[JsonSerializable(typeof(PrimaryClaim))]
[JsonSerializable(typeof(DirectoryLookup))]
[JsonSerializable(typeof(GrainLocation))]
[JsonSerializable(typeof(MeshWorkerInfo))]
[JsonSerializable(typeof(LoadProgramRequest))]
[JsonSerializable(typeof(StepRequest))]
[JsonSerializable(typeof(StepReply))]
[JsonSerializable(typeof(ReleaseJobRequest))]
[JsonSerializable(typeof(PlanRequest))]
[JsonSerializable(typeof(PlanReply))]
[JsonSerializable(typeof(DeviceProfile))]
[JsonSerializable(typeof(StartJobRequest))]
[JsonSerializable(typeof(JobStatus))]
[JsonSerializable(typeof(DriverWatchRequest))]
[JsonSerializable(typeof(DriverProgress))]
[JsonSerializable(typeof(GrainError))]
[JsonSerializable(typeof(ClusterListing))]
[JsonSerializable(typeof(CollectiveRunRequest))]
[JsonSerializable(typeof(CollectiveRunReply))]
public sealed partial class AlpaJsonContext : JsonSerializerContext;

/// <summary>The serializer options every grain message goes through.</summary>
public static class AlpaJson
{
    /// <summary>Source-generated metadata first, reflection for types not (yet) listed.</summary>
    public static JsonSerializerOptions Options { get; } = new(JsonSerializerDefaults.Web)
    {
        TypeInfoResolver = JsonTypeInfoResolver.Combine(AlpaJsonContext.Default, new DefaultJsonTypeInfoResolver()),
        Converters = { new JsonStringEnumConverter() },
        // StepReply.Loss is NaN on all but the last stage.
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public static JsonTypeInfo TypeInfo(Type type) => Options.GetTypeInfo(type);
}
