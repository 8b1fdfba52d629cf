using Alpa.Planner;

namespace Alpa.Silo.Hosting.Membership;

/// <summary>
/// The cluster will not take this silo as it is configured: unknown cluster id, a different secret,
/// or a membership schema newer than this build. Retrying cannot help, so the silo exits at once
/// (code 3) with this message, which says what to change.
/// </summary>
public sealed class JoinRefusedException(string message) : AlpaException(message);
