module enrich

go 1.26

require quiver.dev/quiver v0.1.0
