"""Scale-out through NATS JetStream: producers publish, consumers and relays follow
(docs/scale-out.md). ``plan`` holds the rules without I/O; the rest moves bytes."""

from candlecast.bus.follower import BusFollower
from candlecast.bus.publisher import BusPublisher

__all__ = ["BusFollower", "BusPublisher"]
