using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Alpa.Planner.Intra;

/// <summary>
/// COIN-OR CBC through its C interface (<c>libCbcSolver.so.3</c>, Debian <c>coinor-libcbc3</c>,
/// Cbc_C_Interface.h of CBC 2.10). Every native call goes through <see cref="Call{T}"/>, which turns
/// a missing library into an <see cref="IntraOpException"/> saying what to install.
/// </summary>
internal static unsafe partial class Cbc
{
    private const string Lib = "libCbcSolver.so.3";

    /// <summary>Serializes solves: CBC's solver driver is not re-entrant.</summary>
    public static readonly Lock Gate = new();

    public static T Call<T>(Func<T> call, [CallerArgumentExpression(nameof(call))] string what = "")
    {
        try
        {
            return call();
        }
        catch (DllNotFoundException e)
        {
            throw new IntraOpException($"the ILP solver library {Lib} is missing ({e.Message}): run `apt-get install coinor-libcbc3`, or use --solver brute for small graphs");
        }
        catch (EntryPointNotFoundException e)
        {
            throw new IntraOpException($"{Lib} lacks a function the planner calls ({what}): install CBC 2.10 (`apt-get install coinor-libcbc3`): {e.Message}");
        }
    }

    public static void Call(Action call, [CallerArgumentExpression(nameof(call))] string what = "") =>
        Call(() => { call(); return 0; }, what);

    [LibraryImport(Lib)] public static partial nint Cbc_newModel();
    [LibraryImport(Lib)] public static partial void Cbc_deleteModel(nint model);
    [LibraryImport(Lib)]
    public static partial void Cbc_loadProblem(nint model, int numcols, int numrows, int* start, int* index, double* value,
        double* collb, double* colub, double* obj, double* rowlb, double* rowub);
    [LibraryImport(Lib)] public static partial void Cbc_setInteger(nint model, int column);
    [LibraryImport(Lib)] public static partial void Cbc_setObjSense(nint model, double sense);
    [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] public static partial void Cbc_setParameter(nint model, string name, string value);
    [LibraryImport(Lib)] public static partial void Cbc_setLogLevel(nint model, int level);
    [LibraryImport(Lib)] public static partial void Cbc_setMaximumNodes(nint model, int nodes);
    [LibraryImport(Lib)] public static partial void Cbc_setAllowableGap(nint model, double gap);
    [LibraryImport(Lib)] public static partial void Cbc_setAllowableFractionGap(nint model, double gap);
    [LibraryImport(Lib)] public static partial int Cbc_solve(nint model);
    [LibraryImport(Lib)] public static partial double* Cbc_getColSolution(nint model);
    [LibraryImport(Lib)] public static partial int Cbc_isProvenOptimal(nint model);
    [LibraryImport(Lib)] public static partial int Cbc_isProvenInfeasible(nint model);
    [LibraryImport(Lib)] public static partial int Cbc_isNodeLimitReached(nint model);
    [LibraryImport(Lib)] public static partial double Cbc_getObjValue(nint model);
    [LibraryImport(Lib)] public static partial double Cbc_getBestPossibleObjValue(nint model);
    [LibraryImport(Lib)] public static partial int Cbc_getNodeCount(nint model);
}
