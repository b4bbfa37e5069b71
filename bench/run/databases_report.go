package main

import (
	"fmt"
	"strings"
)

// databasesLines renders the databases section.
func databasesLines(b *strings.Builder, d *dbResults) {
	sz := d.Sizes
	fmt.Fprintf(b, "Three PostgreSQL clusters started by the harness (pgcluster, wal_level=logical, the harness's settings): cluster 1 holds the control database (`main`) and `many`; clusters 2 and 3 the databases `b` and `c`, added with `tenantapi databases add`. Tenants: %d on each of main, b and c, %d in many, each with %d items; one of %d items (moved under load) and one of %d items (killed at each step) in main; one of %d items (exported) in many. Traffic through one `tenantapi serve` on 127.0.0.1.\n\n",
		sz.Spread, sz.Many, sz.SmallItems, sz.MoveItems, sz.CrashItems, sz.ExportItems)
	if d.Error != "" {
		fmt.Fprintf(b, "**Errors:** %s\n\n", strings.ReplaceAll(d.Error, "\n", " "))
	}
	if m := d.Move; m != nil {
		fmt.Fprintf(b, "**Move under load** (`tenants move %s --to b --keep-source`, %d items, the tenant taking %d writes/s and %d reads/s asked for; %d other tenants on main, b, c and many taking %d reads/s; %.0f s of this traffic unmeasured, then %.0f s measured before the move):\n\n",
			m.Tenant, m.Items, sz.WriteRate, sz.ReadRate, m.Others, sz.OtherRate, sz.WarmupSeconds, sz.BeforeSeconds)
		fmt.Fprintf(b, "| figure | value | target |\n|---|---:|---|\n")
		fmt.Fprintf(b, "| move time, s | %.1f | |\n| writes held (hold time it printed), ms | %.0f (%0.f hold attempt(s)) | |\n", m.Seconds, m.HoldMs, m.Holds)
		fmt.Fprintf(b, "| move ÷ pg_dump \\| psql | %.2f | ≤ 2 |\n", m.OfflineRatio)
		fmt.Fprintf(b, "| acknowledged writes (all run) / during the move, per s | %d / %.0f | |\n", m.Acked, m.WriteRateDone)
		fmt.Fprintf(b, "| acked writes missing on the target | %d | 0 |\n| duplicated on the target | %d | 0 |\n", m.Lost, m.Duplicated)
		fmt.Fprintf(b, "| rows on the target neither initial nor acked (of writes without a 201 / unexplained) | %d / %d | 0 unexplained |\n", m.FromUnanswered, m.Unexplained)
		fmt.Fprintf(b, "| rows only on the kept source (accepted there after the flip) | %d | 0 |\n", m.SourceOnly)
		fmt.Fprintf(b, "| longest gap between two acked writes, ms (at s after the move's start) | %.0f (%.1f) | ≤ 1000 |\n", m.MaxGapMs, m.MaxGapAtS)
		fmt.Fprintf(b, "| read 5xx | %d | 0 |\n| write 503 | %d | |\n| write ticks skipped (every writer busy) | %d | |\n| write statuses | %v | |\n| read statuses | %v | |\n", m.Reads5xx, m.Write503, m.Dropped, m.WriteCodes, m.ReadCodes)
		fmt.Fprintf(b, "| other tenants' errors | %d | 0 |\n", m.OtherErrors)
		ratio := 0.0
		if m.OtherP99Pre > 0 {
			ratio = m.OtherP99Move / m.OtherP99Pre
		}
		fmt.Fprintf(b, "| other tenants' p99 before → during, ms (%d / %d requests) | %.2f → %.2f (×%.2f) | within 25%% |\n", m.OtherBefore, m.OtherDuring, m.OtherP99Pre, m.OtherP99Move, ratio)
		fmt.Fprintf(b, "| other tenants' p50 before → during, ms | %.2f → %.2f | |\n", m.OtherP50Pre, m.OtherP50Move)
		for _, o := range m.OtherByDB {
			fmt.Fprintf(b, "| others in %s: p99 before → during, ms (max; requests) | %.2f → %.2f (%.0f → %.0f; %d / %d) | |\n", o.Database, o.P99Before, o.P99During,
				o.MaxBefore, o.MaxDuring, o.Before, o.During)
		}
		if m.Run != nil {
			var lines []string
			for _, l := range m.Run.Lines {
				lines = append(lines, strings.ReplaceAll(strings.TrimSpace(strings.TrimPrefix(l.Line, "tenantapi:")), "|", "/"))
			}
			fmt.Fprintf(b, "| the move's progress lines | %s | |\n", strings.Join(lines, "; "))
		}
		var slow []string
		for _, x := range m.OtherSlow {
			slow = append(slow, fmt.Sprintf("%.0f ms at %.1f s (%s)", x.Ms, x.AtS, x.Database))
		}
		fmt.Fprintf(b, "| others' requests over 100 ms during the move: took, began after the move's start (database) | %s | |\n", strings.Join(slow, ", "))
		fmt.Fprintf(b, "| final database; replication objects left | %s; %d | b; 0 |\n\n", m.FinalDatabase, len(m.Replication))
	}
	if o := d.Offline; o != nil {
		fmt.Fprintf(b, "**Offline copy**: `%s` of tenant %s, no traffic, before the move: %.1f s, %d rows restored, %d ERROR lines from psql.\n\n", o.Command, o.Tenant, o.Seconds, o.Rows, o.ErrorsInLog)
	}
	if len(d.Crashes) > 0 {
		fmt.Fprintf(b, "**Killed at each step** (tenant of %d items; `kill -9` of `tenants move` when the step's line appeared, 1 s with nothing carrying the move on, then the same command again or `--abort`; 20 writes/s and 20 reads/s on the tenant throughout):\n\n", sz.CrashItems)
		b.WriteString("| step | line it printed last | from → to | then | reads (5xx) | write statuses | final database (expected) | rows / initial + acked | replication objects left | result |\n|---|---|---|---|---:|---|---|---:|---:|---|\n")
		for _, c := range d.Crashes {
			then := c.Then
			if c.Then == "abort" && len(c.Recovery) > 1 {
				then = "abort refused (" + strings.ReplaceAll(c.Recovery[0].Error, "|", "/") + "); ran the move again"
			}
			result := "ok"
			if c.Error != "" {
				result = c.Error
			}
			line := c.Line
			if i := strings.Index(line, "s  "); i >= 0 && i < 20 {
				line = strings.TrimSpace(line[i+3:])
			}
			fmt.Fprintf(b, "| %s | %s | %s → %s | %s | %d (%d) | %v | %s (%s) | %d / %d | %d | %s |\n", c.Step, strings.ReplaceAll(line, "|", "/"), c.From, c.To, then,
				c.Reads, c.Reads5xx, c.WriteCodes, c.Final, c.Want, c.Rows, c.Expected, len(c.Replication), result)
		}
		b.WriteString("\n")
	}
	if e := d.Export; e != nil {
		fmt.Fprintf(b, "**Export while serving** (tenant %s, %d items, in `many` among %d tenant schemas, taking 50 writes/s and 50 reads/s): `tenantapi tenants export` %.2f s (%.1f MB) against `pg_dump -n tenant_%s` %.2f s (%.1f MB): ratio %.3f (target ≤ 0.2). Reads during: %d not 200, %d 5xx; writes %v. `tenants import --as %s --database c`: %.2f s; %d of %d tables' checksums (TableChecksums against the archive's manifest) and %d row counts equal.\n\n",
			e.Tenant, e.Items, e.SchemasInDB, e.ExportSeconds, float64(e.ArchiveBytes)/(1<<20), e.Tenant, e.PgDumpSeconds, float64(e.PgDumpBytes)/(1<<20), e.Ratio,
			e.ReadsNot200, e.Reads5xx, e.WriteCodes, e.ImportedAs, e.ImportSeconds, e.ChecksumsEqual, e.Tables, e.RowsEqual)
	}
	if c := d.Catalog; c != nil {
		b.WriteString("**Catalog memory**: one fresh owner connection per database reads one item of every tenant of it (exec mode `exec`), then its backend's memory: CacheMemoryContext and its children (pg_backend_memory_contexts), every context, the process's anonymous memory (smaps_rollup's Anonymous: its heap) and its private memory (Private_Clean + Private_Dirty, as the other sections measure backends; it also counts pages of shared buffers that no other process has mapped, so on a quiet cluster it overstates).\n\n")
		b.WriteString("| configuration | database | tenants touched | CacheMemoryContext MB | all contexts MB | anonymous MB | private MB | touching s |\n|---|---|---:|---:|---:|---:|---:|---:|\n")
		row := func(conf string, x backendCatalog) {
			fmt.Fprintf(b, "| %s | %s | %d | %.1f | %.1f | %.1f | %.1f | %.1f |\n", conf, x.Database, x.Tenants, float64(x.CacheBytes)/(1<<20),
				float64(x.AllBytes)/(1<<20), float64(x.Anonymous)/(1<<20), float64(x.Private)/(1<<20), x.Seconds)
		}
		row("all in one database", c.One)
		for _, x := range c.Spread {
			row("spread over three", x)
		}
		fmt.Fprintf(b, "\nSpread ÷ one (mean backend): CacheMemoryContext %.2f, anonymous %.2f, private %.2f (target about 0.33).\n", c.RatioCache, c.RatioAnon, c.RatioPrivate)
	}
}
