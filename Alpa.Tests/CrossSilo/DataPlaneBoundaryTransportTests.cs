using Alpa.Kernels;
using Alpa.Planner.Pipeline;
using Alpa.Silo.Execution.Collectives;
using Alpa.Silo.Execution.Pipeline;

namespace Alpa.Tests.CrossSilo;

/// <summary>Boundary tensors of a pipeline between stages on two silos, over real data-plane sockets.</summary>
public sealed class DataPlaneBoundaryTransportTests
{
    [Fact]
    public async Task BoundaryMessages_CrossSilos_StepAfterStep_Intact()
    {
        await using var silos = await LoopbackSilos.StartAsync(2);
        var stages = silos.Addresses;
        var sender = new DataPlaneBoundaryTransport(silos.Peers(0), stages, tag: 3);
        var receiver = new DataPlaneBoundaryTransport(silos.Peers(1), stages, tag: 3);
        for (var step = 0; step < 3; step++)
        {
            var message = new BoundaryMessage(BufferId.Activation(0, 1, 1), [
                new BoundaryTile("layers.0.out", 1, HostTensor.FromFloats([.. Enumerable.Range(0, 24).Select(i => (float)(i * (step + 1)))], 2, 3, 4)),
                new BoundaryTile("tokens", 0, HostTensor.FromInts([step, 5, 7], 3)),
                new BoundaryTile("s", 2, HostTensor.Scalar(-step)),
            ]);
            var received = receiver.ReceiveAsync(message.Buffer, CancellationToken.None);
            await sender.SendAsync(message, CancellationToken.None);
            var got = await received;
            Assert.Equal(message.Buffer, got.Buffer);
            Assert.Equal(message.Tiles.Select(t => (t.Name, t.Tile)), got.Tiles.Select(t => (t.Name, t.Tile)));
            for (var i = 0; i < 3; i++)
            {
                Assert.Equal(message.Tiles[i].Data.Type, got.Tiles[i].Data.Type);
                Assert.Equal(message.Tiles[i].Data.Shape, got.Tiles[i].Data.Shape);
                Assert.Equal(message.Tiles[i].Data.Floats, got.Tiles[i].Data.Floats);
                Assert.Equal(message.Tiles[i].Data.Ints, got.Tiles[i].Data.Ints);
            }
        }
    }

    [Fact]
    public async Task ReceiveFromADeadStage_FailsNamingItsSilo()
    {
        await using var silos = await LoopbackSilos.StartAsync(2);
        var receiver = new DataPlaneBoundaryTransport(silos.Peers(1), silos.Addresses, tag: 4);
        var waiting = receiver.ReceiveAsync(BufferId.Gradient(0, 1, 0), CancellationToken.None).AsTask();
        await Task.Delay(200);
        await silos.KillAsync(0);
        var e = await Assert.ThrowsAsync<SiloFailedException>(() => waiting.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(silos.Addresses[0], e.Silo);
    }
}
