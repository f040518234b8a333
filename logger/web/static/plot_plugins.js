// uPlot plugins: where= intervals as shaded bands and cursors A/B as lines, drawn with uPlot's
// own draw context in its hooks. What was drawn is kept in window.sdvlog.drawn for anyone
// checking the page (the tests among them).
function drawn() {
  const s = window.sdvlog || (window.sdvlog = {});
  return s.drawn || (s.drawn = { bands: [], cursors: [] });
}

export function bandsPlugin(intervals) {
  return {
    hooks: {
      drawClear: [(u) => {
        const { left, top, width, height } = u.bbox;
        const ctx = u.ctx;
        const shown = [];
        ctx.save();
        ctx.fillStyle = "rgba(245, 158, 11, 0.25)";
        for (const [start, end] of intervals()) {
          let x0 = u.valToPos(start, "x", true);
          let x1 = u.valToPos(end, "x", true);
          if (!Number.isFinite(x0) || !Number.isFinite(x1) || x1 < left || x0 > left + width) continue;
          x0 = Math.max(x0, left);
          x1 = Math.min(x1, left + width);
          ctx.fillRect(x0, top, Math.max(2, x1 - x0), height);
          shown.push({ start, end, x0, x1 });
        }
        ctx.restore();
        drawn().bands = shown;
      }],
    },
  };
}

export function cursorsPlugin(cursors) {
  return {
    hooks: {
      draw: [(u) => {
        const { left, top, width, height } = u.bbox;
        const ctx = u.ctx;
        const shown = [];
        ctx.save();
        ctx.lineWidth = 1.5;
        ctx.font = `${11 * devicePixelRatio}px sans-serif`;
        for (const [name, t, color] of cursors()) {
          if (t === null || t === undefined) continue;
          const x = u.valToPos(t, "x", true);
          if (!Number.isFinite(x) || x < left || x > left + width) continue;
          ctx.strokeStyle = color;
          ctx.fillStyle = color;
          ctx.setLineDash([5, 3]);
          ctx.beginPath();
          ctx.moveTo(x, top);
          ctx.lineTo(x, top + height);
          ctx.stroke();
          ctx.fillText(name, x + 3, top + 12 * devicePixelRatio);
          shown.push({ name, t, x });
        }
        ctx.restore();
        drawn().cursors = shown;
      }],
    },
  };
}
