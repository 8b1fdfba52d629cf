using Alpa.Planner.Inter;

namespace Alpa.Tests.Inter;

public sealed class StagePlacementTests
{
    [Fact]
    public void RandomTilingsArePlacedOnDisjointAlignedDevices()
    {
        var rng = new Random(5);
        for (var instance = 0; instance < 200; instance++)
        {
            var hosts = rng.Next(1, 5);
            var m = new[] { 1, 2, 4, 8 }[rng.Next(4)];
            var shapes = MeshShapes.Submeshes(hosts, m);
            var stages = new List<SubmeshShape>();
            var left = hosts * m;
            while (left > 0)
            {
                var fits = shapes.Where(s => s.Count <= left && (s.Count <= m || s.Count % m == 0)).ToArray();
                var pick = fits[rng.Next(fits.Length)];
                stages.Add(pick);
                left -= pick.Count;
            }
            var placed = StagePlacement.Place(stages, hosts, m);
            Assert.Equal(Enumerable.Range(0, hosts * m), placed.SelectMany(d => d).Order());
            for (var i = 0; i < stages.Count; i++)
            {
                Assert.Equal(stages[i].Count, placed[i].Length);
                var hostSet = placed[i].Select(d => d / m).Distinct().ToArray();
                Assert.Equal(stages[i].Hosts, hostSet.Length);
                if (stages[i].Hosts == 1) Assert.Equal(0, placed[i][0] % stages[i].Devices);
            }
        }
    }

    [Fact]
    public void StagesThatDoNotTileAreRefused()
    {
        var e = Assert.Throws<InterOpException>(() => StagePlacement.Place([new SubmeshShape(1, 2)], 1, 4));
        Assert.Equal("stages", e.Field);
    }
}
