"""The one protocol every part with threads of its own follows: ``start``, ``stop``, ``stats``.

- ``start()`` starts the part's threads (and connections) and returns once it works or has
  failed in a way it reports; a second call does nothing.
- ``stop()`` ends them in the part's own order (each part documents it: what it flushes, what it
  acknowledges, how long it waits at most) and may be called more than once, also before
  ``start``.
- ``stats()`` returns the part's counters at that instant, cheaply, from any thread: a frozen
  dataclass or a plain dict that the service reports as is.

The parts: :class:`~logger.service.service.Service` (which starts and stops the others),
:class:`~logger.mqtt.broker.EmbeddedBroker`, :class:`~logger.query.channel.ChannelServer`,
:class:`~logger.capture.exchange.Exchange` with its :class:`~logger.capture.ringbus.Ringbus`,
:class:`~logger.capture.batch_writer.BatchWriter`, :class:`~logger.gateway.gateway.Gateway` with its
:class:`~logger.gateway.bus_reader.BusReader` per bus,
:class:`~logger.gateway.batch_publisher.BatchPublisher` and
:class:`~logger.gateway.spi_publisher.SpiPublisher`.

An exchange's message source (:class:`~logger.capture.source.MessageSource`) follows the same
shape, except that its ``start`` takes the callback that receives each message.
"""

from __future__ import annotations

from typing import Protocol, TypeVar, runtime_checkable

__all__ = ["Component"]

StatsT_co = TypeVar("StatsT_co", covariant=True)


@runtime_checkable
class Component(Protocol[StatsT_co]):
    """A part of the service with threads of its own."""

    def start(self) -> None:
        """Start the part's threads; idempotent."""

    def stop(self) -> None:
        """Stop them, in the part's documented order; idempotent, also before :meth:`start`."""

    def stats(self) -> StatsT_co:
        """The part's counters now."""
